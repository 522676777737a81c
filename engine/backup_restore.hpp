#pragma once
// A backup proven restorable: the archive restored for real into a database of an ephemeral
// cluster (engine/ephemeral.hpp), and the exact row count of every user table there compared
// with the source's, counted in the snapshot the dump was taken in (pg_dump --snapshot), so a
// source that keeps changing cannot hide a missing table or a table without its rows.
#include <string>
#include <vector>

#include "engine/db.hpp"
#include "engine/ephemeral.hpp"

namespace rb::backup {

struct TableRows {
  std::string table;  // schema-qualified and quoted as needed: public.orders, "Odd"."Name"
  long long rows = 0;
};

// What a restore check compares a copy with: the tables a pg_dump archive holds the rows of —
// ordinary tables and partitions, not partitioned parents (their rows are their partitions'),
// not extension members, temporary or system tables — and the role names (a restore creates
// them, NOLOGIN, for the policies that name them).
struct Census {
  std::string database;
  std::vector<TableRows> tables;  // sorted by name
  std::vector<std::string> roles;
};

// Counts with SELECT count(*) in the session's current transaction (row security off, as
// pg_dump reads them: a table it would hide rows of fails instead of counting fewer). Call it
// inside the REPEATABLE READ transaction whose exported snapshot pg_dump used.
Census take_census(db::Connection& conn);

struct TableCheck {
  std::string table;
  long long source = -1;    // -1: not a table of the source
  long long restored = -1;  // -1: absent from the restored copy
};

struct RestoreCheck {
  std::string database;                 // the database restored into, in the cluster
  std::vector<TableCheck> tables;       // every table of either side, sorted by name
  std::vector<TableCheck> mismatches;   // those whose counts differ (or that one side lacks)
  long long rows = 0;                   // rows of the source's tables
  double restore_ms = 0, count_ms = 0;
};

// Restores `archive` (custom format) with `pg_restore --no-owner --no-privileges
// --exit-on-error` (also without tablespaces, publications, subscriptions and security labels:
// the cluster has none of them) into a new database named like the source's in `cluster`,
// after creating the source's roles there, then counts the copy's rows and compares them
// with `source`. Throws rb::StepError naming pg_restore's first error when the archive does not
// restore, rb::AbortError when the run is interrupted meanwhile.
RestoreCheck restore_and_compare(const std::string& archive, const ephemeral::Cluster& cluster, const Census& source);

}  // namespace rb::backup
