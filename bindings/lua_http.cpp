// require "http": GET/POST and checks with expectations (engine/http). Reads (GET, HEAD)
// are sent in dry-run too; anything else is only announced. Every request is recorded.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"
#include "engine/cancel.hpp"
#include "engine/http.hpp"

namespace rb::lua {

namespace {

extern const luaL_Reg kFunctions[];

bool is_read(const std::string& method) { return method == "GET" || method == "HEAD"; }

std::string shown_url(const Services& s, const std::string& url) {
  std::string masked = Redactor::mask_url(url);
  return s.redactor ? s.redactor->apply(masked) : masked;
}

std::string redacted(const Services& s, const std::string& text) {
  return s.redactor ? s.redactor->apply(text) : text;
}

// opts.headers: a table of Name = value.
void read_headers(lua_State* L, int table, HttpRequest& req) {
  lua_getfield(L, table, "headers");  // [.., headers]
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1)) throw ConfigError("http: option 'headers' must be a table");
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {  // [.., headers, name, value]
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
        throw ConfigError("http: 'headers' must map names to strings");
      req.headers.emplace_back(lua_tostring(L, -2), lua_tostring(L, -1));
    }
  }
  lua_pop(L, 1);  // [..]
}

// opts.json: a Lua value sent as a JSON body.
void read_json_body(lua_State* L, int table, HttpRequest& req) {
  lua_getfield(L, table, "json");  // [.., json]
  if (!lua_isnil(L, -1)) {
    if (!req.body.empty()) throw ConfigError("http: give either 'body' or 'json', not both");
    req.body = to_json(L, -1).dump();
    auto has_type = std::any_of(req.headers.begin(), req.headers.end(), [](const auto& h) {
      std::string name = h.first;
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      return name == "content-type";
    });
    if (!has_type) req.headers.emplace_back("Content-Type", "application/json");
  }
  lua_pop(L, 1);  // [..]
}

// The options shared by http.get/post and http.check. `json_body`: opts.json is the body
// (get/post) rather than field expectations (check).
void read_options(lua_State* L, int table, HttpRequest& req, bool json_body) {
  req.timeout_s = opt_number_field(L, table, "timeout", req.timeout_s);
  req.retries = static_cast<int>(opt_number_field(L, table, "retries", req.retries));
  req.retry_interval_s = opt_number_field(L, table, "interval", req.retry_interval_s);
  req.verify_tls = !opt_bool_field(L, table, "insecure", false);
  req.body = opt_string_field(L, table, "body", "");
  read_headers(L, table, req);
  if (json_body) read_json_body(L, table, req);
}

// check's json = { ["dotted.path"] = expected, ... }, in key order for stable messages.
void read_expected_fields(lua_State* L, int table, HttpExpectation& expect) {
  lua_getfield(L, table, "json");  // [.., json]
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1)) throw ConfigError("http.check: option 'json' must be a table");
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {  // [.., json, path, value]
      if (lua_type(L, -2) != LUA_TSTRING) throw ConfigError("http.check: 'json' keys are paths");
      expect.json_fields.emplace_back(lua_tostring(L, -2), to_json(L, -1));
    }
    std::sort(expect.json_fields.begin(), expect.json_fields.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  lua_pop(L, 1);  // [..]
}

void record(const Services& s, const HttpRequest& req, const HttpResponse& resp) {
  if (!s.record) return;
  nlohmann::json detail = {{"method", req.method}, {"url", shown_url(s, req.url)},
                           {"status", resp.status}, {"time_ms", resp.time_ms},
                           {"attempts", resp.attempts}};
  if (!resp.error.empty()) detail["error"] = redacted(s, resp.error);
  if (resp.cancelled) detail["cancelled"] = true;
  s.record("http", detail);
}

// A request (or its retries) stopped by ^C / SIGTERM / SIGHUP ends the run: an "aborted"
// error, whatever the caller would have done with a failed response.
void raise_if_cancelled(const Services& s, const HttpRequest& req, const HttpResponse& resp) {
  if (!resp.cancelled) return;
  std::string why = cancel::reason();
  std::string what = req.method + " " + shown_url(s, req.url);
  std::string how = resp.attempts == 0 ? " was not sent"
                    : " was stopped after " + std::to_string(resp.attempts) +
                          (resp.attempts == 1 ? " attempt" : " attempts");
  throw AbortError(redacted(s, "http " + what + how + ": interrupted by " +
                                   (why.empty() ? "the operator" : why)));
}

// In dry-run a request that is not a read is announced and recorded, never sent.
bool held_back(const Services& s, const HttpRequest& req) {
  if (changes_allowed(s.mode) || is_read(req.method)) return false;
  if (s.say) s.say("would send: " + req.method + " " + shown_url(s, req.url));
  if (s.record)
    s.record("http", {{"method", req.method}, {"url", shown_url(s, req.url)}, {"dry_run", true}});
  return true;
}

void push_dry_run_response(lua_State* L) {
  lua_createtable(L, 0, 2);  // [response]
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "status");
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "dry_run");
}

void push_response(lua_State* L, const HttpResponse& resp) {
  lua_createtable(L, 0, 6);  // [response]
  lua_pushnumber(L, static_cast<lua_Number>(resp.status));
  lua_setfield(L, -2, "status");
  lua_pushlstring(L, resp.body.data(), resp.body.size());
  lua_setfield(L, -2, "body");
  auto doc = nlohmann::json::parse(resp.body, nullptr, false);
  if (!doc.is_discarded()) {
    push_json(L, doc);  // [response, json]
    lua_setfield(L, -2, "json");
  }
  lua_pushnumber(L, resp.time_ms);
  lua_setfield(L, -2, "time_ms");
  lua_pushinteger(L, resp.attempts);
  lua_setfield(L, -2, "attempts");
  if (!resp.error.empty()) {
    lua_pushlstring(L, resp.error.data(), resp.error.size());
    lua_setfield(L, -2, "error");
  }
}

int send(lua_State* L, const char* method) {
  luaL_checkstring(L, 1);
  require_effects(services(L).mode, std::string("an HTTP ") + method + " request");  // inert: none
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  HttpRequest req;
  req.method = method;
  req.url = check_string(L, 1);
  if (!lua_isnoneornil(L, 2)) read_options(L, 2, req, true);
  Services& s = services(L);
  if (held_back(s, req)) {
    push_dry_run_response(L);
    return 1;
  }
  HttpResponse resp = http_perform(req);
  record(s, req, resp);
  raise_if_cancelled(s, req, resp);
  push_response(L, resp);
  return 1;
}

// http.get(url, opts) -> response
int get(lua_State* L) { return send(L, "GET"); }

// http.post(url, opts) -> response
int post(lua_State* L) { return send(L, "POST"); }

std::string check_detail(const HttpResponse& resp, const std::vector<std::string>& failures) {
  if (failures.empty())
    return std::to_string(resp.status) + " in " + std::to_string(std::llround(resp.time_ms)) + " ms";
  std::string joined;
  for (const auto& f : failures) joined += (joined.empty() ? "" : "; ") + f;
  return joined;
}

struct CheckSpec {
  HttpRequest req;
  HttpExpectation expect;
};

CheckSpec read_check(lua_State* L) {
  CheckSpec spec;
  spec.req.url = opt_string_field(L, 1, "url", "");
  if (spec.req.url.empty()) throw ConfigError("http.check: 'url' is required");
  std::string& method = spec.req.method = opt_string_field(L, 1, "method", "GET");
  std::transform(method.begin(), method.end(), method.begin(), ::toupper);
  read_options(L, 1, spec.req, false);
  spec.expect.status = static_cast<long>(opt_number_field(L, 1, "status", 200));
  read_expected_fields(L, 1, spec.expect);
  return spec;
}

int push_check(lua_State* L, bool ok, const std::string& detail, const HttpResponse* resp) {
  lua_pushboolean(L, ok);
  lua_pushlstring(L, detail.data(), detail.size());
  if (resp) push_response(L, *resp);
  else push_dry_run_response(L);
  return 3;  // [ok, detail, response]
}

// http.check{ url=, method="GET", status=200, json={["a.b"]=v}, timeout=, retries=,
//             interval=, headers=, body=, insecure= } -> ok, detail, response
int check(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  require_effects(services(L).mode, "http.check");  // inert (--describe/--list): no request
  CheckSpec spec = read_check(L);
  Services& s = services(L);
  if (held_back(s, spec.req))
    return push_check(L, true, "would send: " + spec.req.method + " " + shown_url(s, spec.req.url),
                      nullptr);
  std::vector<std::string> failures;
  HttpResponse resp = http_check(spec.req, spec.expect, failures);
  record(s, spec.req, resp);
  raise_if_cancelled(s, spec.req, resp);
  return push_check(L, failures.empty(), redacted(s, check_detail(resp, failures)), &resp);
}

}  // namespace

int open_http(lua_State* L) {
  lua_createtable(L, 0, 3);  // [http]
  set_functions(L, kFunctions);
  return 1;
}

namespace {

const luaL_Reg kFunctions[] = {
    {"get", guarded<get>},
    {"post", guarded<post>},
    {"check", guarded<check>},
    {nullptr, nullptr},
};

}  // namespace

}  // namespace rb::lua
