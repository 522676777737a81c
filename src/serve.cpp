#include "src/serve.hpp"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "engine/cancel.hpp"
#include "engine/errors.hpp"
#include "engine/parity_report.hpp"
#include "engine/shell.hpp"

namespace rb::serve {

std::pair<std::string, int> parse_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw ConfigError("--listen " + listen + ": expected ADDRESS:PORT, e.g. 127.0.0.1:8080");
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 1 || port > 65535) throw ConfigError("--listen " + listen + ": the port must be a number from 1 to 65535");
  return {host, port};
}

bool is_loopback(const std::string& host) {
  // An address, not a name that merely starts with 127. (127.example.com may resolve anywhere).
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return host == "localhost" || host == "::1";
}

namespace {

struct Answer {
  int http = 200;
  nlohmann::json body;
};

// One environment's parity, as `runbook status.lua --json` says it (a read-only session, no run
// record): the served answer is the one an operator gets at the terminal.
Answer parity_of(const Options& o, const std::string& env, std::size_t limit, const std::string& token) {
  Command c;
  if (!token.empty()) c.withheld_values = {token};  // status.lua has no use for the server's token
  c.argv = {o.self, "status.lua", "--json", "-q", "--color=never", "--journal", o.journal_dir};
  if (!o.environments_file.empty()) c.argv.insert(c.argv.end(), {"--environments", o.environments_file});
  if (!env.empty()) c.argv.insert(c.argv.end(), {"--env", env});
  for (const auto& [k, v] : o.sets) c.argv.insert(c.argv.end(), {"--set", k + "=" + v});
  c.timeout_s = 30;  // a database that never answers: 502 within this, and SIGTERM waits at most this
  const auto r = run_command(c);
  nlohmann::json status, end;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    const auto e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object()) continue;
    if (e.value("event", "") == "status") status = e;
    if (e.value("event", "") == "end") end = e;
  }
  if (status.is_null()) {
    std::string why = end.is_object() ? end.value("error", "") : "";
    if (why.empty()) why = r.timed_out ? "status.lua did not answer within 30 s" : "status.lua exited " + std::to_string(r.exit_code);
    return {502, {{"env", env}, {"error", why}}};
  }
  return {200, parity_report::response(env, status, limit)};
}

std::string chosen_env(const Options& o, const httplib::Request& req, Answer& refusal) {
  std::string env = req.has_param("env") ? req.get_param_value("env") : "";
  if (o.envs.empty()) {
    if (!env.empty()) refusal = {404, {{"error", "this server serves only the default environment, not " + env}}};
    return "";
  }
  if (env.empty()) {
    if (o.envs.size() == 1) return o.envs[0];
    refusal = {400, {{"error", "which environment? ?env= one of the served ones"}, {"served", o.envs}}};
    return "";
  }
  for (const auto& e : o.envs)
    if (e == env) return env;
  refusal = {404, {{"error", "environment " + env + " is not served"}, {"served", o.envs}}};
  return "";
}

bool authorized(const std::string& token, const httplib::Request& req) {
  if (token.empty()) return true;
  const std::string expected = "Bearer " + token;
  const std::string given = req.get_header_value("Authorization");
  return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

void reply(httplib::Response& res, const Answer& a) {
  res.status = a.http;
  res.set_content(a.body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "application/json");
}

}  // namespace

int run(const Options& o) {
  const auto [host, port] = parse_listen(o.listen);
  // Set, it is required of every request, loopback too.
  const char* t = std::getenv("RUNBOOK_SERVE_TOKEN");
  const std::string token = t ? t : "";
  if (!is_loopback(host) && token.empty())
    throw ConfigError("--listen " + o.listen + " is not a loopback address: set RUNBOOK_SERVE_TOKEN, which every "
                      "request must then send as 'Authorization: Bearer TOKEN' (or listen on 127.0.0.1)");

  httplib::Server server;
  server.set_pre_routing_handler([&token](const httplib::Request& req, httplib::Response& res) {
    if (authorized(token, req)) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    reply(res, {401, {{"error", "missing or wrong 'Authorization: Bearer' token"}}});
    return httplib::Server::HandlerResponse::Handled;
  });
  server.Get("/api/ops/db/migrations", [&o, &token](const httplib::Request& req, httplib::Response& res) {
    std::size_t limit = 500;
    if (req.has_param("limit")) {
      const std::string v = req.get_param_value("limit");
      if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) == 0)
        return reply(res, {400, {{"error", "limit must be a number from 1 to 999999, not " + v}}});
      limit = std::stoul(v);
    }
    Answer refusal;
    const std::string env = chosen_env(o, req, refusal);
    if (refusal.http != 200) return reply(res, refusal);
    reply(res, parity_of(o, env, limit, token));
  });
  server.Get("/", [&o, &token](const httplib::Request&, httplib::Response& res) {
    std::vector<nlohmann::json> envs;
    for (const auto& env : o.envs.empty() ? std::vector<std::string>{""} : o.envs) envs.push_back(parity_of(o, env, 50, token).body);
    const auto runs = parity_report::recent_runs(o.journal_dir, "", 20);
    res.set_content(parity_report::page(envs, runs), "text/html; charset=utf-8");
  });

  // SIGINT/SIGTERM end the server from a thread of its own (stop() is not for a signal handler).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  if (!server.bind_to_port(host, port))
    throw ConfigError("cannot listen on " + o.listen + " (in use, or not an address of this machine)");
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    // The status.lua children of requests in flight are stopped too (run_command honours the
    // cancel token), so the server does not wait out a database that never answers.
    cancel::request(sig);
    server.stop();
  });
  std::cerr << "serving http://" << (host.find(':') != std::string::npos ? "[" + host + "]" : host) << ":" << port
            << "/ and /api/ops/db/migrations" << (o.envs.empty() ? "" : "?env=...") << " (^C stops)"
            << std::endl;
  server.listen_after_bind();
  pthread_kill(waiter.native_handle(), SIGTERM);  // listen ended otherwise: let the waiter go
  waiter.join();
  return 0;
}

}  // namespace rb::serve
