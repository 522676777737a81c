#pragma once
// Counters of the work a run did, for the run record: how many times each file was parsed
// (the plan parses each once) and how many times the ledger was read.
#include <map>
#include <string>

namespace rb {

struct RunStats {
  std::map<std::string, int> parses;  // file -> times sql::analyze parsed it
  int ledger_reads = 0;
};

RunStats& run_stats();

}  // namespace rb
