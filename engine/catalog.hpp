#pragma once
// The user schema as the catalog describes it (tables, columns, indexes, constraints), a diff
// of an expected schema against an actual one, and the data checks a schema alone cannot make:
// foreign-key orphans and NOT VALID constraints. Read-only: every function here only SELECTs.
//
// The snapshot covers every schema except pg_catalog, information_schema, pg_toast and the
// temporary schemas, runbook's own ledger table included: the diff ignores nothing, so what it
// reports is exactly what differs. Object names are schema-qualified; expressions and types are
// read with search_path = pg_catalog, so they are qualified the same way whatever the session's
// search_path (two databases compare equal when their schemas are equal).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/db.hpp"

namespace rb::catalog {

struct Column {
  std::string name;
  std::string type;                    // format_type: "integer", "character varying(255)"
  bool not_null = false;
  std::optional<std::string> default_; // pg_get_expr of the default (or of a generated column's
                                       // expression, as "GENERATED ALWAYS AS (...) STORED");
                                       // identity columns: "GENERATED ALWAYS|BY DEFAULT AS IDENTITY"
};

struct Table {
  std::string name;  // schema.table
  std::string kind;  // "table", "partitioned table"
  std::vector<Column> columns;  // in attnum order
};

struct Index {
  std::string name;        // schema.index
  std::string table;       // schema.table
  std::string definition;  // pg_get_indexdef
  bool valid = true;       // pg_index.indisvalid
};

struct Constraint {
  std::string name;        // conname (unique per table)
  std::string table;       // schema.table
  std::string type;        // "primary key", "unique", "foreign key", "check", "exclusion", "trigger"
  std::string definition;  // pg_get_constraintdef
  bool validated = true;   // pg_constraint.convalidated (false: NOT VALID)
};

struct Snapshot {
  std::string database;   // current_database() when taken: metadata, not compared
  int server_version = 0; // metadata, not compared
  std::vector<Table> tables;            // sorted by name
  std::vector<Index> indexes;           // sorted by name
  std::vector<Constraint> constraints;  // sorted by table, then name
};

Snapshot snapshot(db::Connection& conn);

nlohmann::json to_json(const Snapshot& s);
// Tolerant of what a Lua round trip makes of it: an empty object or array for an empty list,
// a missing key for a null default. Throws ConfigError naming what is malformed.
Snapshot from_json(const nlohmann::json& j);

// Each difference as one sentence naming the object: "column public.users.email is missing",
// "column public.users.age: type integer expected, bigint found", "table public.foo is
// unexpected". Order: tables and their columns (by table name), then indexes (by name), then
// constraints (by table, then name). Objects of a missing or unexpected table are not listed
// one by one. An index or constraint that is better than expected (valid where the expectation
// was INVALID or NOT VALID) is not a difference.
std::vector<std::string> diff(const Snapshot& expected, const Snapshot& actual);

struct Orphans {
  std::string constraint;        // conname
  std::string table;             // the referencing (child) table, schema.table
  std::string parent;            // the referenced table, schema.table
  std::vector<std::string> columns;  // the child's referencing columns
  bool validated = true;         // the constraint's convalidated
  long long checked = 0;         // child rows looked at (all key columns non-null)
  long long orphans = 0;         // of those, rows with no parent row
  std::string example;           // "(user_id)=(42)" of one orphan; "" when none
  bool sampled = false;          // true: only part of the table was looked at
};

// For every foreign key (validated or not; of a partitioned table once, not per partition):
// child rows whose referencing columns are all non-null and have no parent row. A child table
// larger than `sample_limit` rows (pg_class.reltuples) is sampled (TABLESAMPLE SYSTEM); at
// most `sample_limit` rows of any table are looked at, and `sampled` says when that was not
// all of them. Sorted by table, then constraint.
std::vector<Orphans> fk_orphans(db::Connection& conn, long long sample_limit = 100000);

// Constraints with convalidated = false (added NOT VALID and never validated).
std::vector<Constraint> not_valid_constraints(db::Connection& conn);

}  // namespace rb::catalog
