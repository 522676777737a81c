#pragma once
// A shadow of the target for rehearsals: the target's schema (pg_dump --schema-only) and its
// ledger rows loaded into a database of an ephemeral cluster, so the pending chain can run
// there for real — CONCURRENTLY and own-transaction files too — without touching the target.
#include <string>
#include <vector>

#include "engine/db.hpp"
#include "engine/ephemeral.hpp"

namespace rb::shadow {

struct Copy {
  std::string database;                  // the shadow's database (named like the target's)
  std::vector<std::string> data_tables;  // tables whose rows were copied (the ledgers found)
  double ms = 0;
};

// Dumps the target's schema without owners or privileges (roles do not exist in the shadow)
// and the rows of `data_tables` that exist there, and loads both into a new database of
// `cluster`. The password travels in PGPASSWORD, never on a command line. Throws
// rb::StepError naming the failing tool and its message (a schema the shadow cannot load,
// e.g. an extension not installed here); rb::AbortError when the run is interrupted.
Copy copy_schema(db::Connection& target, const ephemeral::Cluster& cluster, const std::vector<std::string>& data_tables);

}  // namespace rb::shadow
