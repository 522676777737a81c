#include "engine/run_stats.hpp"

namespace rb {

RunStats& run_stats() {
  static RunStats stats;
  return stats;
}

}  // namespace rb
