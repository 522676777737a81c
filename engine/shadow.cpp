#include "engine/shadow.hpp"

#include <unistd.h>

#include <chrono>

#include "engine/cancel.hpp"
#include "engine/errors.hpp"
#include "engine/shell.hpp"

namespace rb::shadow {

namespace {

std::string tool(const ephemeral::Cluster& cluster, const std::string& name) {
  const std::string own = cluster.server().bin_dir + "/" + name;
  return access(own.c_str(), X_OK) == 0 ? own : name;  // same major as the shadow, else PATH's
}

// A pg_dump pattern that matches exactly one schema-qualified name.
std::string exact_pattern(const std::string& qualified) {
  const auto dot = qualified.find('.');
  const auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  if (dot == std::string::npos) return quote(qualified);
  return quote(qualified.substr(0, dot)) + "." + quote(qualified.substr(dot + 1));
}

std::string first_lines(const std::string& text, std::size_t n = 8) {
  std::size_t at = 0;
  for (std::size_t k = 0; k < n; ++k) {
    at = text.find('\n', at);
    if (at == std::string::npos) return text;
    ++at;
  }
  return text.substr(0, at) + "…";
}

void run(Command c, const std::string& what) {
  c.timeout_s = 3600;
  const auto r = run_command(c);
  if (r.cancelled) throw AbortError("interrupted (" + cancel::reason() + ") while " + what);
  if (r.timed_out) throw StepError(what + " took longer than an hour and was stopped");
  if (r.exit_code != 0)
    throw StepError(what + " failed (" + c.argv.front() + ", exit " + std::to_string(r.exit_code) + "):\n  " +
                    first_lines(r.err.empty() ? r.out : r.err));
}

}  // namespace

Copy copy_schema(db::Connection& target, const ephemeral::Cluster& cluster, const std::vector<std::string>& data_tables) {
  const auto started = std::chrono::steady_clock::now();
  Copy copy;
  copy.database = target.database().empty() ? "postgres" : target.database();

  // The target as pg_dump reaches it: the run's own connection string, password withheld.
  std::string conninfo = target.options().conninfo, password;
  if (!target.options().dbname.empty()) conninfo = db::with_database(conninfo, target.options().dbname);
  if (!conninfo.empty()) conninfo = db::without_password(conninfo, password);
  const auto dump = [&](std::vector<std::string> args, const std::string& file, const std::string& what) {
    Command c;
    c.argv = {tool(cluster, "pg_dump"), "--no-owner", "--no-privileges", "--no-tablespaces", "--no-publications",
              "--no-subscriptions", "--no-security-labels", "--file=" + file};
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    if (!conninfo.empty()) c.argv.push_back("--dbname=" + conninfo);
    if (!password.empty()) c.env["PGPASSWORD"] = password;
    run(c, what);
  };
  const std::string schema_file = cluster.dir() + "/schema.sql", rows_file = cluster.dir() + "/ledger-rows.sql";
  dump({"--schema-only"}, schema_file, "dumping the schema of " + copy.database + " for the shadow");
  for (const auto& t : data_tables) {
    auto r = target.query("SELECT to_regclass($1) IS NOT NULL", {exact_pattern(t)});
    if (!r.rows.empty() && r.rows[0][0].boolean) copy.data_tables.push_back(t);
  }
  if (!copy.data_tables.empty()) {
    std::vector<std::string> args{"--data-only"};
    for (const auto& t : copy.data_tables) args.push_back("--table=" + exact_pattern(t));
    dump(args, rows_file, "dumping the ledger rows of " + copy.database + " for the shadow");
  }

  {
    db::ConnectOptions admin;
    admin.conninfo = cluster.conninfo();
    db::Connection c(admin);
    c.run_script("CREATE DATABASE " + c.quote_name(copy.database) + " TEMPLATE template0 ENCODING 'UTF8'");
  }
  const auto load = [&](const std::string& file, const std::string& what) {
    Command c;
    c.argv = {tool(cluster, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
              "--dbname=" + cluster.conninfo(copy.database), "--file=" + file};
    run(c, what);
  };
  load(schema_file, "loading the schema of " + copy.database + " into the shadow");
  if (!copy.data_tables.empty()) load(rows_file, "loading the ledger rows of " + copy.database + " into the shadow");
  copy.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return copy;
}

}  // namespace rb::shadow
