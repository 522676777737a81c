// Prisma Migrate (schema-engine/connectors/sql-schema-connector/src/flavour/postgres.rs,
// migration persistence): _prisma_migrations(id varchar(36), checksum varchar(64) = SHA-256 hex
// of migration.sql, finished_at, migration_name, logs, rolled_back_at, started_at,
// applied_steps_count). A migration is applied when a row of its name has finished_at set and
// rolled_back_at NULL; a row with neither is a failed migration (P3009) until
// `prisma migrate resolve --rolled-back NAME` (sets rolled_back_at) or `--applied NAME`.
// Rows with rolled_back_at set are history, not applied.
#include <openssl/rand.h>

#include <cstdio>
#include <map>

#include "engine/errors.hpp"
#include "engine/hash.hpp"
#include "engine/status.hpp"
#include "engine/tool_ledger.hpp"

namespace rb::migrations {
namespace {

bool matches(const std::vector<std::string>& c) {
  return c == std::vector<std::string>{"id",   "checksum",       "finished_at", "migration_name",
                                       "logs", "rolled_back_at", "started_at",  "applied_steps_count"};
}

std::string create_sql(db::Connection& conn, const std::string& table) {
  return "CREATE TABLE IF NOT EXISTS " + quoted_table(conn, table) +
         " (\n    \"id\"                    VARCHAR(36) PRIMARY KEY NOT NULL,\n"
         "    \"checksum\"              VARCHAR(64) NOT NULL,\n    \"finished_at\"           TIMESTAMPTZ,\n"
         "    \"migration_name\"        VARCHAR(255) NOT NULL,\n    \"logs\"                  TEXT,\n"
         "    \"rolled_back_at\"        TIMESTAMPTZ,\n"
         "    \"started_at\"            TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
         "    \"applied_steps_count\"   INTEGER NOT NULL DEFAULT 0\n)";
}

// A version 4 UUID, as Prisma's Uuid::new_v4 writes it.
std::string uuid_v4() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no random bytes for a UUID");
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

std::vector<ToolRecord> read(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM " +
                      quoted_table(conn, table) + " ORDER BY started_at, id");
  std::map<std::string, ToolRecord> by_name;
  std::vector<std::string> order;
  for (const auto& row : r.rows) {
    const std::string name = row.at(0).text;
    if (row.at(3).boolean) continue;  // rolled back: history
    auto [it, fresh] = by_name.emplace(name, ToolRecord{});
    if (fresh) order.push_back(name);
    ToolRecord& rec = it->second;
    rec.key = name;
    rec.index = index_by_name(chain, name);
    if (!row.at(2).boolean) {
      rec.failed = true;
      rec.failure = "Prisma records " + name + " as failed (finished_at is NULL, P3009); repair the database, then "
                    "`prisma migrate resolve --applied " + name + "` or `--rolled-back " + name +
                    "`, or resolve it with runbook";
    } else if (rec.index >= 0) {
      const Migration& m = chain.migrations[static_cast<std::size_t>(rec.index)];
      // Prisma accepts a checksum of the file with other line endings as the same migration.
      rec.checksum_differs = row.at(1).text != m.sha256 && !differs_only_in_line_endings(m.up_sql, row.at(1).text);
    }
  }
  std::vector<ToolRecord> out;
  for (const auto& n : order) out.push_back(by_name[n]);
  return out;
}

std::vector<std::string> applied_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  // A failed attempt of it is marked rolled back first, as `prisma migrate resolve --applied` does.
  return {"UPDATE " + quoted_table(conn, table) + " SET rolled_back_at = now() WHERE migration_name = " +
              conn.quote(m.name) + " AND finished_at IS NULL AND rolled_back_at IS NULL",
          "INSERT INTO " + quoted_table(conn, table) +
         " (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES (" +
         conn.quote(uuid_v4()) + ", " + conn.quote(sha256_hex(m.up_sql)) + ", " + conn.quote(m.name) +
         ", now(), clock_timestamp(), 1)"};
}

std::vector<std::string> removed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  // What `prisma migrate resolve --rolled-back` writes: the rows stay, marked rolled back.
  return {"UPDATE " + quoted_table(conn, table) + " SET rolled_back_at = now() WHERE migration_name = " +
         conn.quote(m.name) + " AND rolled_back_at IS NULL"};
}

std::vector<std::string> failed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&,
                       const std::string& error) {
  return {"INSERT INTO " + quoted_table(conn, table) +
         " (id, checksum, migration_name, started_at, logs, applied_steps_count) VALUES (" + conn.quote(uuid_v4()) +
         ", " + conn.quote(sha256_hex(m.up_sql)) + ", " + conn.quote(m.name) + ", now(), " + conn.quote(error) + ", 0)"};
}

// The schema engine's fixed key (postgres.rs acquire_lock).
std::int64_t lock_key(db::Connection&, const std::string&) { return 72707369; }

}  // namespace

const ToolLedgerModule kPrismaLedger{"prisma", "public._prisma_migrations", "prisma", matches, create_sql, read,
                                     applied_sql, removed_sql, failed_sql, lock_key};

}  // namespace rb::migrations
