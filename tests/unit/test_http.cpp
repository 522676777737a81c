// engine/http against a real HTTP server on loopback (tests/support/http_server.py).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/cancel.hpp"
#include "engine/http.hpp"
#include "tests/support/http_server.hpp"

namespace {

// One server for the whole test binary, ended (by its pid) when the tests end.
rbtest::HttpServer& server() {
  static rbtest::HttpServer instance;
  return instance;
}

std::string url(const std::string& path) { return server().url(path); }
std::string json_url(const std::string& body) { return server().json_url(body); }
using rbtest::unused_port;

// A key unique to this process, so /flaky counters do not leak between runs or tests.
std::string flaky_key(const std::string& name) { return name + "-" + std::to_string(::getpid()); }

rb::HttpRequest get(const std::string& u) {
  rb::HttpRequest r;
  r.url = u;
  r.retry_interval_s = 0.05;
  return r;
}

// Forgets cancel requests before and after a test, so one test's ^C never leaks into another.
struct CancelReset {
  CancelReset() { rb::cancel::reset(); }
  ~CancelReset() { rb::cancel::reset(); }
};

// Calls rb::cancel::request(SIGINT) from another thread after `delay`, as the host's signal
// handler would; joined on destruction.
class RequestLater {
 public:
  explicit RequestLater(std::chrono::milliseconds delay)
      : thread_([delay] {
          std::this_thread::sleep_for(delay);
          rb::cancel::request(SIGINT);
        }) {}
  ~RequestLater() { thread_.join(); }
  RequestLater(const RequestLater&) = delete;
  RequestLater& operator=(const RequestLater&) = delete;

 private:
  std::thread thread_;
};

}  // namespace

TEST_CASE("http_perform returns status and body", "[http]") {
  auto r = rb::http_perform(get(json_url(R"({"a": 1})")));
  CHECK(r.error.empty());
  CHECK(r.status == 200);
  CHECK(r.body == R"({"a": 1})");
  CHECK(r.attempts == 1);
  CHECK(r.time_ms > 0);
}

TEST_CASE("status expectation passes and fails", "[http]") {
  rb::HttpExpectation expect;
  expect.status = 200;
  CHECK(rb::http_check_failures(rb::http_perform(get(url("/status/200"))), expect).empty());

  auto r = rb::http_perform(get(url("/status/503")));
  CHECK(r.status == 503);
  CHECK(rb::http_check_failures(r, expect) ==
        std::vector<std::string>{"status 503, expected 200"});
  expect.status = 503;
  CHECK(rb::http_check_failures(r, expect).empty());
}

TEST_CASE("JSON field expectation passes and fails", "[http]") {
  rb::HttpExpectation expect;
  expect.status = 200;
  expect.json_fields = {{"parity.status", "PASS"}};

  auto pass = rb::http_perform(get(json_url(R"({"parity": {"status": "PASS", "drift": 0}})")));
  CHECK(rb::http_check_failures(pass, expect).empty());

  auto fail = rb::http_perform(get(json_url(R"({"parity": {"status": "FAIL"}})")));
  CHECK(rb::http_check_failures(fail, expect) ==
        std::vector<std::string>{R"(parity.status is "FAIL", expected "PASS")"});

  SECTION("numbers, booleans and array indexes") {
    auto r = rb::http_perform(get(json_url(R"({"items": [{"name": "a"}, {"name": "b"}],
                                                "count": 2.0, "ok": true})")));
    rb::HttpExpectation e;
    e.json_fields = {{"items.1.name", "b"}, {"count", 2}, {"ok", true}};
    CHECK(rb::http_check_failures(r, e).empty());
    e.json_fields = {{"items.0.name", "b"}, {"items.5.name", "x"}, {"ok", false},
                     {"count.x", 1}};
    CHECK(rb::http_check_failures(r, e) ==
          std::vector<std::string>{R"(items.0.name is "a", expected "b")", "no field items.5.name",
                                   "ok is true, expected false", "no field count.x"});
  }
  SECTION("a body that is not JSON") {
    auto r = rb::http_perform(get(url("/slow?ms=0")));
    CHECK(rb::http_check_failures(r, expect) == std::vector<std::string>{"body is not JSON"});
  }
  SECTION("both the status and the field are reported") {
    auto r = rb::http_perform(get(url("/json?status=500&body=") +
                                  rbtest::url_encode(R"({"parity": {"status": "FAIL"}})")));
    CHECK(rb::http_check_failures(r, expect) ==
          std::vector<std::string>{"status 500, expected 200",
                                   R"(parity.status is "FAIL", expected "PASS")"});
  }
}

TEST_CASE("a request that takes longer than the timeout fails with a transport error", "[http]") {
  auto req = get(url("/slow?ms=3000"));
  req.timeout_s = 0.3;
  auto start = std::chrono::steady_clock::now();
  auto r = rb::http_perform(req);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000));
  CHECK(r.status == 0);
  CHECK_THAT(r.error, Catch::Contains("timed out"));
  rb::HttpExpectation expect;
  expect.status = 200;
  CHECK(rb::http_check_failures(r, expect) == std::vector<std::string>{r.error});
}

TEST_CASE("connection refused is a transport error, retried", "[http]") {
  auto req = get("http://127.0.0.1:" + std::to_string(unused_port()) + "/");
  req.retries = 2;
  auto r = rb::http_perform(req);
  CHECK(r.status == 0);
  CHECK(r.attempts == 3);
  CHECK_FALSE(r.error.empty());
  CHECK_THAT(r.error, Catch::Contains("127.0.0.1"));
}

TEST_CASE("http_perform retries 5xx until success, but not 4xx", "[http]") {
  auto req = get(url("/flaky?fails=2&key=" + flaky_key("perform")));
  req.retries = 3;
  auto r = rb::http_perform(req);
  CHECK(r.status == 200);
  CHECK(r.attempts == 3);
  CHECK(nlohmann::json::parse(r.body)["count"] == 3);

  auto exhausted = get(url("/flaky?fails=5&key=" + flaky_key("exhausted")));
  exhausted.retries = 1;
  auto e = rb::http_perform(exhausted);
  CHECK(e.status == 503);
  CHECK(e.attempts == 2);

  auto missing = get(url("/status/404"));
  missing.retries = 3;
  auto m = rb::http_perform(missing);
  CHECK(m.status == 404);
  CHECK(m.attempts == 1);
}

TEST_CASE("http_check retries until the expectation passes", "[http]") {
  rb::HttpExpectation expect;
  expect.status = 200;
  expect.json_fields = {{"ok", true}};
  std::vector<std::string> failures;

  auto req = get(url("/flaky?fails=2&key=" + flaky_key("check")));
  req.retries = 2;
  auto r = rb::http_check(req, expect, failures);
  CHECK(failures.empty());
  CHECK(r.status == 200);
  CHECK(r.attempts == 3);

  auto never = get(json_url(R"({"ok": false})"));
  never.retries = 2;
  auto n = rb::http_check(never, expect, failures);
  CHECK(n.attempts == 3);
  CHECK(failures == std::vector<std::string>{"ok is false, expected true"});
}

TEST_CASE("POST and other methods send the body and headers", "[http]") {
  rb::HttpRequest req;
  req.method = "POST";
  req.url = url("/echo");
  req.body = R"({"x": [1, 2]})";
  req.headers = {{"Content-Type", "application/json"}, {"X-Runbook", "yes"}};
  auto r = rb::http_perform(req);
  REQUIRE(r.status == 200);
  auto echo = nlohmann::json::parse(r.body);
  CHECK(echo["method"] == "POST");
  CHECK(echo["body"] == req.body);
  CHECK(echo["content_type"] == "application/json");
  CHECK(echo["headers"]["x-runbook"] == "yes");

  req.method = "PUT";
  req.body = "plain";
  echo = nlohmann::json::parse(rb::http_perform(req).body);
  CHECK(echo["method"] == "PUT");
  CHECK(echo["body"] == "plain");

  req.method = "DELETE";
  req.body.clear();
  echo = nlohmann::json::parse(rb::http_perform(req).body);
  CHECK(echo["method"] == "DELETE");
  CHECK(echo["body"] == "");

  req.method = "HEAD";
  auto head = rb::http_perform(req);
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

TEST_CASE("http_perform retries stop when cancellation is requested during the backoff", "[http][cancel]") {
  CancelReset reset;
  auto req = get("http://127.0.0.1:" + std::to_string(unused_port()) + "/");
  req.retries = 100;
  req.retry_interval_s = 1;
  auto start = std::chrono::steady_clock::now();
  rb::HttpResponse r;
  {
    RequestLater later(std::chrono::milliseconds(300));
    r = rb::http_perform(req);
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(900));
  CHECK(r.cancelled);
  CHECK(r.attempts == 1);  // the first attempt failed at once; the wait for the second was cut short
}

TEST_CASE("http_perform stops a request in flight when cancellation is requested", "[http][cancel]") {
  CancelReset reset;
  auto req = get(url("/slow?ms=10000"));
  req.timeout_s = 30;
  req.retries = 3;
  auto start = std::chrono::steady_clock::now();
  rb::HttpResponse r;
  {
    RequestLater later(std::chrono::milliseconds(300));
    r = rb::http_perform(req);
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2500));
  CHECK(r.cancelled);
  CHECK(r.status == 0);
  CHECK(r.attempts == 1);  // not retried
  CHECK(r.error == "stopped: the run was interrupted by ^C");
}

TEST_CASE("http_perform sends nothing once cancellation was requested", "[http][cancel]") {
  CancelReset reset;
  const std::string key = flaky_key("cancelled");
  rb::cancel::request(SIGTERM);
  auto r = rb::http_perform(get(url("/flaky?fails=0&key=" + key)));
  CHECK(r.cancelled);
  CHECK(r.attempts == 0);
  rb::cancel::reset();
  // The server counts requests per key: this is the first one it sees.
  auto after = rb::http_perform(get(url("/flaky?fails=0&key=" + key)));
  REQUIRE(after.status == 200);
  CHECK(nlohmann::json::parse(after.body)["count"] == 1);
  CHECK_FALSE(after.cancelled);
}

TEST_CASE("http_check retries stop when cancellation is requested", "[http][cancel]") {
  CancelReset reset;
  rb::HttpExpectation expect;
  expect.status = 200;
  expect.json_fields = {{"ok", true}};
  std::vector<std::string> failures;
  auto req = get(json_url(R"({"ok": false})"));
  req.retries = 100;
  req.retry_interval_s = 1;
  auto start = std::chrono::steady_clock::now();
  rb::HttpResponse r;
  {
    RequestLater later(std::chrono::milliseconds(300));
    r = rb::http_check(req, expect, failures);
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(900));
  CHECK(r.cancelled);
  CHECK(r.attempts == 1);
  CHECK(failures == std::vector<std::string>{"ok is false, expected true"});  // of the last attempt
}
