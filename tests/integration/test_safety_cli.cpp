// Safety by construction, through the real binary: --list and --describe load runbook files
// inert (no effect runs, not even a read-only one), io.write goes through secret masking and
// stays out of --json, and JSON encoding/decoding refuses cycles and deep nesting cleanly.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

using rbtest::run_cli;
using rbtest::TempDir;

namespace {

bool has(const rbtest::CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

// A runbook whose top level, and the helper module it requires, each try to touch a file.
void write_effectful_runbook(const TempDir& dir, const std::string& top_marker, const std::string& helper_marker) {
  dir.write("effect_helper.lua",
            "local shell = require 'shell'\n"
            "shell.run { 'touch', '" + helper_marker + "' }\n"
            "return { answer = 42 }\n");
  dir.write("effectful.lua",
            "local runbook = require 'runbook'\n"
            "local shell = require 'shell'\n"
            "shell.run { 'touch', '" + top_marker + "', read_only = true }\n"
            "local helper = require 'effect_helper'\n"
            "return runbook.define { name = 'effectful', description = 'touches files at load',\n"
            "  steps = { runbook.step('noop', 'nothing', function() end) } }\n");
}

const char* kPure =
    "local runbook = require 'runbook'\n"
    "return runbook.define { name = 'pure', description = 'only defines steps',\n"
    "  steps = { runbook.step('noop', 'does nothing', function() end) } }\n";

}  // namespace

TEST_CASE("--list loads runbook files inert: top-level effects do not run", "[cli][inert]") {
  TempDir dir;
  TempDir outside;
  const std::string top = outside.path() + "/top-ran", helper = outside.path() + "/helper-ran";
  write_effectful_runbook(dir, top, helper);
  dir.write("pure.lua", kPure);
  dir.write("only_helper_uses.lua",
            "local runbook = require 'runbook'\nlocal h = require 'effect_helper'\n"
            "return runbook.define { name = 'via-helper', steps = { runbook.step('noop', function() end) } }\n");

  auto r = run_cli({"--list"}, {}, dir.path());
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK_FALSE(std::filesystem::exists(top));
  CHECK_FALSE(std::filesystem::exists(helper));
  // Runbooks that load without effects are listed with their description ...
  CHECK(r.out.find("pure\t./pure.lua\tonly defines steps") != std::string::npos);
  // ... the ones that need an effect to load are not, and a warning says why.
  CHECK(r.out.find("effectful\t") == std::string::npos);
  CHECK(r.out.find("only_helper_uses\t") == std::string::npos);
  // (The refusal names the file; the line of the call, when the error value carries it in its
  // message, is not asserted here.)
  CHECK(r.err.find("effectful.lua is not listed: ") != std::string::npos);
  CHECK(r.err.find("only_helper_uses.lua is not listed: ") != std::string::npos);
  CHECK(r.err.find("shell.run is not available while loading a runbook for --describe/--list") != std::string::npos);
}

TEST_CASE("--describe refuses a runbook whose loading needs an effect, and runs nothing", "[cli][inert]") {
  TempDir dir;
  TempDir outside;
  const std::string top = outside.path() + "/top-ran", helper = outside.path() + "/helper-ran";
  write_effectful_runbook(dir, top, helper);

  auto r = run_cli({"--describe", "effectful.lua"}, {}, dir.path());
  INFO(r.all());
  CHECK(r.code == 2);
  CHECK(r.err.find("effectful.lua") != std::string::npos);
  CHECK(r.err.find("shell.run is not available while loading a runbook for --describe/--list: a runbook file's "
                   "top-level code (and the modules it requires) must not have effects; do it inside a step") !=
        std::string::npos);
  CHECK(r.out.empty());
  CHECK_FALSE(std::filesystem::exists(top));
  CHECK_FALSE(std::filesystem::exists(helper));

  // A helper module's effect is refused too, when a runbook requires it.
  dir.write("via_helper.lua",
            "local runbook = require 'runbook'\nlocal h = require 'effect_helper'\n"
            "return runbook.define { name = 'via-helper', steps = { runbook.step('noop', function() end) } }\n");
  auto v = run_cli({"--describe", "via_helper.lua"}, {}, dir.path());
  INFO(v.all());
  CHECK(v.code == 2);
  CHECK(v.err.find("via_helper.lua") != std::string::npos);
  CHECK(v.err.find("shell.run is not available while loading a runbook") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(helper));
}

TEST_CASE("in inert mode every effectful primitive refuses with a config error", "[cli][inert]") {
  TempDir dir;
  TempDir outside;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"db.connect", "require('db').connect('dbname=postgres')"},
      {"an HTTP GET request", "require('http').get('http://127.0.0.1:9/')"},
      {"an HTTP POST request", "require('http').post('http://127.0.0.1:9/', { body = 'x' })"},
      {"http.check", "require('http').check { url = 'http://127.0.0.1:9/' }"},
      {"files.write", "require('files').write('" + outside.path() + "/written', 'x')"},
      {"files.mkdir", "require('files').mkdir('" + outside.path() + "/made')"},
      {"files.make_private", "require('files').make_private('" + outside.path() + "')"},
  };
  for (const auto& [what, call] : cases) {
    dir.write("probe.lua", "local runbook = require 'runbook'\n" + call +
                               "\nreturn runbook.define { name = 'probe', steps = { runbook.step('noop', function() end) } }\n");
    auto r = run_cli({"--describe", "probe.lua"}, {}, dir.path());
    INFO(what << "\n" << r.all());
    CHECK(r.code == 2);
    CHECK(r.err.find(what + " is not available while loading a runbook") != std::string::npos);
  }
  CHECK(rbtest::listing(outside.path()).empty());
  // Reading stays available: top-level code may read files to build its steps.
  dir.write("reads.lua",
            "local runbook = require 'runbook'\nlocal files = require 'files'\n"
            "assert(files.exists('reads.lua'))\nlocal text = files.read('reads.lua')\n"
            "return runbook.define { name = 'reads', description = #text > 0 and 'read it' or 'empty',\n"
            "  steps = { runbook.step('noop', function() end) } }\n");
  auto ok = run_cli({"--describe", "reads.lua"}, {}, dir.path());
  INFO(ok.all());
  CHECK(ok.code == 0);
  CHECK(ok.out.find("read it") != std::string::npos);
}

TEST_CASE("--describe of a runbook that only defines steps still works", "[cli][inert]") {
  TempDir dir;
  dir.write("pure.lua", kPure);
  auto r = run_cli({"--describe", "pure.lua"}, {}, dir.path());
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(r.out.find("only defines steps") != std::string::npos);
  CHECK(r.out.find("noop") != std::string::npos);
  // The runbook still runs its steps for real afterwards: inert is only for loading to describe.
  auto run = run_cli({"pure.lua", "--journal", dir.path() + "/journal"}, {}, dir.path());
  INFO(run.all());
  CHECK(run.code == 0);
}

TEST_CASE("io.write and io.stdout/io.stderr:write are masked operator output, never stdout", "[cli][output]") {
  TempDir dir;
  dir.write("writes.lua",
            "local runbook = require 'runbook'\n"
            "return runbook.define { name = 'writes',\n"
            "  params = { { name = 'token', type = 'string', secret = true, help = 'api token' } },\n"
            "  steps = { runbook.step('write', 'writes the token', function(ctx)\n"
            "    io.write('token is ', ctx.params.token, '\\n')\n"
            "    io.stdout:write('stdout got ', ctx.params.token):write(' twice\\n')\n"
            "    io.stderr:write('stderr got ' .. ctx.params.token .. '\\n')\n"
            "    io.write('no newline')\n"
            "    print('print got', ctx.params.token)\n"
            "    local f = assert(io.open('writes.lua'))\n"
            "    assert(f:read('*l'):find('runbook'), 'io.open for reading still works')\n"
            "    f:close()\n"
            "    for line in io.lines('writes.lua') do assert(line) break end\n"
            "  end) } }\n");
  const std::string secret = "Tok3n-VerySecret";
  auto r = run_cli({"writes.lua", "--json", "--journal", dir.path() + "/journal", "--set", "token=" + secret}, {},
                   dir.path());
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(r.all().find(secret) == std::string::npos);
  CHECK(r.err.find("token is ***") != std::string::npos);
  CHECK(r.err.find("stdout got ***") != std::string::npos);
  CHECK(r.err.find(" twice") != std::string::npos);
  CHECK(r.err.find("stderr got ***") != std::string::npos);
  CHECK(r.err.find("no newline") != std::string::npos);
  CHECK(r.err.find("print got\t***") != std::string::npos);
  CHECK(r.err.find("token is ***\n\n") == std::string::npos);  // the trailing newline is not doubled
  nlohmann::json rec;
  REQUIRE_NOTHROW(rec = rbtest::record_of(r.out));  // stdout is only the event stream (run_cli checks each line)
  CHECK(rec["runbook"] == "writes");
  CHECK(rec["status"] == "succeeded");
}

TEST_CASE("json.encode refuses a table that contains itself and too-deep nesting", "[cli][json]") {
  TempDir dir;
  auto run_step = [&dir](const std::string& body) {
    dir.write("json_probe.lua", "local runbook = require 'runbook'\nlocal json = require 'json'\n"
                                "return runbook.define { name = 'json-probe', steps = {\n"
                                "  runbook.step('probe', function(ctx)\n" + body + "\n  end) } }\n");
    return run_cli({"json_probe.lua", "--journal", dir.path() + "/journal"}, {}, dir.path());
  };
  auto not_a_signal = [](const rbtest::CliResult& r) { return r.code >= 0 && r.code < 128; };

  auto cycle = run_step("local t = { a = { list = { 1, 2 } } }\nt.a.list[3] = t\nprint(json.encode(t))");
  INFO(cycle.all());
  CHECK(cycle.code == 1);
  CHECK(not_a_signal(cycle));
  CHECK(has(cycle, "json: cannot encode a table that contains itself (at key a.list.3)"));

  auto record = run_step("local t = {}\nt.self = t\nctx:record('loop', { value = t })");
  INFO(record.all());
  CHECK(record.code == 1);
  CHECK(has(record, "json: cannot encode a table that contains itself (at key value.self)"));

  // A table reached twice by different keys is not a cycle.
  auto shared = run_step("local s = { 1 }\nprint(json.encode({ a = s, b = s }))");
  INFO(shared.all());
  CHECK(shared.code == 0);

  auto deep = run_step("local t = {}\nlocal cur = t\nfor i = 1, 100000 do cur[1] = {}; cur = cur[1] end\n"
                       "print(json.encode(t))");
  INFO(deep.all());
  CHECK(deep.code == 1);
  CHECK(not_a_signal(deep));
  CHECK(has(deep, "json: nesting deeper than 200 levels"));

  auto ok = run_step("local t = {}\nlocal cur = t\nfor i = 1, 199 do cur[1] = {}; cur = cur[1] end\n"
                     "assert(#json.encode(t) == 400)");
  INFO(ok.all());
  CHECK(ok.code == 0);
}

TEST_CASE("json.decode refuses documents nested too deeply instead of crashing", "[cli][json]") {
  TempDir dir;
  auto run_step = [&dir](const std::string& body) {
    dir.write("json_probe.lua", "local runbook = require 'runbook'\nlocal json = require 'json'\n"
                                "return runbook.define { name = 'json-probe', steps = {\n"
                                "  runbook.step('probe', function(ctx)\n" + body + "\n  end) } }\n");
    return run_cli({"json_probe.lua", "--journal", dir.path() + "/journal"}, {}, dir.path());
  };
  auto open = run_step("json.decode(string.rep('[', 100000))");
  INFO(open.all());
  CHECK(open.code == 1);
  CHECK(has(open, "json.decode: nesting deeper than 200 levels at byte 201"));

  auto closed = run_step("json.decode(string.rep('[', 100000) .. string.rep(']', 100000))");
  INFO(closed.all());
  CHECK(closed.code == 1);
  CHECK(has(closed, "json.decode: nesting deeper than 200 levels at byte 201"));

  // The error is a typed Lua error of kind "failed" that a step can catch.
  auto caught = run_step("local ok, err = pcall(json.decode, '{\"a\":' .. string.rep('[', 300))\n"
                         "assert(not ok and err.kind == 'failed', tostring(err))\n"
                         "assert(tostring(err):find('at byte 205', 1, true), tostring(err))\n"
                         "local v = json.decode('{\"s\": \"[[[[\", \"n\": [[1]]}')\n"
                         "assert(v.s == '[[[[' and v.n[1][1] == 1)");
  INFO(caught.all());
  CHECK(caught.code == 0);
}

// issue 9: libpq quotes a connection string it cannot parse whole in its error, password
// included. No form of the password may reach stdout, stderr, --json or the run records, and the
// records are private.
TEST_CASE("no form of a connection URL leaks its password; run records are 0600 in 0700", "[cli][secrets]") {
  const std::vector<std::string> urls = {
      "postgresql+psycopg2://u:S3cretPw@localhost/db", "postgis://u:S3cretPw@localhost/db",
      "pgsql://u:S3cretPw@localhost/db",               " postgresql://u:S3cretPw@localhost/db",
      "postgresql://u:S3cretPw@[::1/db",               "postgresql://u:S3cr%zzPw@localhost/db",
      "postgresql://u:S3cret%50w@127.0.0.1:1/db",      "host=127.0.0.1 port=1 dbname=x password=S3cretPw",
  };
  rbtest::register_secret("S3cretPw");
  rbtest::register_secret("S3cr%zzPw");
  for (const auto& url : urls) {
    INFO(url);
    TempDir dir;
    dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
    auto r = run_cli({"apply.lua", "--yes", "--json", "--journal", dir.path() + "/journal"}, {{"DATABASE_URL", url}},
                     dir.path());
    CHECK(r.code != 0);
    CHECK(r.all().find("S3cr") == std::string::npos);
    for (const auto& f : rbtest::listing(dir.path() + "/journal")) {
      const auto path = dir.path() + "/journal/" + f;
      CHECK(rbtest::read_file(path).find("S3cr") == std::string::npos);
      CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
            (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    }
    CHECK((std::filesystem::status(dir.path() + "/journal").permissions() & std::filesystem::perms::all) ==
          std::filesystem::perms::owner_all);
  }
}

TEST_CASE("an existing shared backup_dir (1777) keeps its mode; the backup in it is 0600", "[cli][files]") {
  TempDir dir;
  rbtest::TempDatabase db;
  dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
  const std::string shared = dir.path() + "/shared";
  std::filesystem::create_directory(shared);
  std::filesystem::permissions(shared, std::filesystem::perms::all | std::filesystem::perms::sticky_bit);
  auto r = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--set", "backup_dir=" + shared});
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK((std::filesystem::status(shared).permissions() & (std::filesystem::perms::all | std::filesystem::perms::sticky_bit)) ==
        (std::filesystem::perms::all | std::filesystem::perms::sticky_bit));
  const auto backups = rbtest::listing(shared);
  REQUIRE(backups.size() == 1);
  CHECK((std::filesystem::status(shared + "/" + backups[0]).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
}

// issue 9: a server that accepts TCP and never answers hung the run until it was killed.
TEST_CASE("connecting to a server that never answers fails with the connect timeout", "[cli][bounds]") {
  rbtest::SilentServer silent;
  const std::string url = silent.url();
  TempDir dir;
  dir.write("migrations/0001_a.sql", "SELECT 1;\n");
  const auto start = std::chrono::steady_clock::now();
  // The default: libpq alone would wait for ever (PGCONNECT_TIMEOUT, which libpq honours itself,
  // is left unset).
  unsetenv("PGCONNECT_TIMEOUT");
  auto r = run_cli({"apply.lua", "--yes"}, {{"DATABASE_URL", url}}, dir.path());
  const auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
  INFO(r.all());
  CHECK(r.code != 0);
  CHECK(r.err.find("timeout") != std::string::npos);
  CHECK(took >= 9);  // runbook's default connect_timeout of 10 s
  CHECK(took < 30);
}

// issue 9: a journal directory that fills up mid-apply stopped the chain with exit 2 and skipped
// the failure handler. A record that cannot be written is a warning; the chain is not cut; the
// final record still says how the run ended.
TEST_CASE("a journal directory that fills up mid-apply: the chain is not cut, the final record is written",
          "[cli][files][full]") {
  TempDir dir;
  rbtest::TempDatabase db;
  const std::string journal = dir.path() + "/journal";
  std::filesystem::create_directory(journal);
  const std::string mount = "mount -t tmpfs -o size=64k,mode=0700 tmpfs " + journal + " 2>/dev/null";
  if (std::system(mount.c_str()) != 0) {
    WARN("skipped: cannot mount a small tmpfs here (needs root): the full-directory case is not tested");
    return;
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { std::system(("umount " + dir).c_str()); }
  } unmount{journal};
  for (int i = 1; i <= 300; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "migrations/%04d_t%d.sql", i, i);
    dir.write(name, "CREATE TABLE t" + std::to_string(i) + " (id int PRIMARY KEY, note text);\n"
                    "INSERT INTO t" + std::to_string(i) + " VALUES (1, 'the record grows with every migration');\n");
  }
  auto r = rbtest::run_cli({"apply.lua", "--yes", "--journal", journal}, {{"DATABASE_URL", db.url()}}, dir.path());
  INFO(r.all().substr(r.all().size() > 4000 ? r.all().size() - 4000 : 0));
  CHECK(r.code == 0);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 300);
  CHECK(r.err.find("the run record could not be written") != std::string::npos);
  CHECK(r.err.find("No space left on device") != std::string::npos);
  const auto records = rbtest::files_in(journal, ".json");
  REQUIRE(records.size() == 1);
  const auto rec = nlohmann::json::parse(rbtest::read_file(records[0]));
  CHECK(rec["status"] == "succeeded");
  CHECK(rec["exit_code"] == 0);
  CHECK(rec.contains("left_out"));
  CHECK(r.err.find("the final run record was written without what did not fit") != std::string::npos);
}

// issue 9: the password in every form a team may hand it, through the runs that print the most:
// apply-prod with its backup, hooks and --json; a dry-run; a failing migration. Not one byte
// of stdout, stderr, run records, hook output or backup metadata may hold it.
TEST_CASE("a real password in every form reaches no output, record, hook or backup metadata", "[cli][secrets]") {
  const std::string pw = "Pw-B4ttery-7q";          // what the URL forms carry
  const std::string pw_special = "Pw-B4tt/ery@7q!";  // percent-encoded in the URL
  rbtest::register_secret(pw);
  rbtest::register_secret(pw_special);
  rbtest::TempDatabase db;
  const std::string host = std::getenv("PGHOST"), port = std::getenv("PGPORT"), user = std::getenv("PGUSER");
  struct Form {
    std::string name, url;
    std::map<std::string, std::string> env;
  };
  const std::vector<Form> forms{
      {"URL", "postgresql://" + user + ":" + pw + "@/" + db.name() + "?host=" + host + "&port=" + port, {}},
      {"percent-encoded URL",
       "postgresql://" + user + ":Pw-B4tt%2Fery%407q%21@/" + db.name() + "?host=" + host + "&port=" + port, {}},
      {"key=value", "host=" + host + " port=" + port + " user=" + user + " dbname=" + db.name() + " password=" + pw, {}},
      {"PGPASSWORD", db.url(), {{"PGPASSWORD", pw}}},
  };
  for (const auto& f : forms) {
    DYNAMIC_SECTION(f.name) {
      TempDir dir;
      rbtest::psql(db, "DROP TABLE IF EXISTS a, b; DROP TABLE IF EXISTS schema_migrations");
      dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
      dir.write("environments.lua",
                "return { prod = { database_env = \"DB_URL_T\", confirm = \"PROD-OK\", backup = \"required\",\n"
                "  backup_dir = \"" + dir.path() + "/backups\",\n"
                "  hooks = {\n"
                "    pause_workers = { \"sh\", \"-c\", \"echo paused {database} {run_id} > paused.txt\" },\n"
                "    resume_workers = { \"sh\", \"-c\", \"echo resumed {database} > resumed.txt; env > hook-env.txt\" },\n"
                "    upload_backup = { \"cp\", \"{backup}\", \"" + dir.path() + "/uploaded.dump\" },\n"
                "  } } }\n");
      auto env = f.env;
      env["DB_URL_T"] = f.url;
      env["DATABASE_URL"] = f.url;
      std::vector<rbtest::CliResult> runs;
      const std::string journal = dir.path() + "/journal";
      runs.push_back(run_cli({"apply-prod.lua", "--env", "prod", "--dry-run", "--json", "--journal", journal}, env, dir.path()));
      runs.push_back(run_cli({"apply-prod.lua", "--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--json", "-v", "--journal", journal},
                             env, dir.path()));
      CHECK(runs.back().code == 0);
      CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
      dir.write("migrations/0002_b.sql", "CREATE TABLE b (id int);\nSELECT 1/0;\n");
      runs.push_back(run_cli({"apply-prod.lua", "--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--json", "-v", "--journal", journal},
                             env, dir.path()));
      CHECK(runs.back().code == 1);
      runs.push_back(run_cli({"post-verify.lua", "--env", "prod", "--json", "--journal", journal}, env, dir.path()));
      CHECK(rbtest::listing(dir.path()).size() > 5);  // the hooks and the upload ran
      REQUIRE(std::filesystem::exists(dir.path() + "/resumed.txt"));
      REQUIRE(std::filesystem::exists(dir.path() + "/uploaded.dump"));
      for (const auto& r : runs) {
        INFO(r.all());
        CHECK(r.all().find("B4tt") == std::string::npos);
      }
      // Every file the runs left (records, hook output, the hook's environment, backups) but the
      // archives themselves, which hold the database's data and nothing of its connection.
      for (auto it = std::filesystem::recursive_directory_iterator(dir.path());
           it != std::filesystem::recursive_directory_iterator(); ++it) {
        if (!it->is_regular_file() || it->path().extension() == ".dump") continue;
        INFO(it->path().string());
        CHECK(rbtest::read_file(it->path().string()).find("B4tt") == std::string::npos);
      }
    }
  }
}
