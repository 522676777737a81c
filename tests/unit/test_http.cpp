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

#include <nlohmann/json.hpp>

#include "engine/http.hpp"

#ifndef RUNBOOK_SOURCE_DIR
#error "RUNBOOK_SOURCE_DIR must name the source tree (set by tests/CMakeLists.txt)"
#endif

namespace {

// The test server, started on first use and killed (by its pid) when the tests end.
class TestServer {
 public:
  static TestServer& instance() {
    static TestServer server;
    return server;
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  ~TestServer() {
    ::close(stdin_fd_);  // the server also exits on its own when its stdin closes
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

 private:
  TestServer() {
    const std::string script = std::string(RUNBOOK_SOURCE_DIR) + "/tests/support/http_server.py";
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execlp("python3", "python3", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_fd_ = in[1];
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(out[0]);
    port_ = std::atoi(line.c_str());
    if (port_ <= 0) throw std::runtime_error("test HTTP server did not start: " + script);
  }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
};

std::string url(const std::string& path) { return TestServer::instance().url(path); }

std::string encode(const std::string& s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string json_url(const std::string& body) { return url("/json?body=" + encode(body)); }

// A loopback port nobody listens on: bound once by us, then released.
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A key unique to this process, so /flaky counters do not leak between runs or tests.
std::string flaky_key(const std::string& name) { return name + "-" + std::to_string(::getpid()); }

rb::HttpRequest get(const std::string& u) {
  rb::HttpRequest r;
  r.url = u;
  r.retry_interval_s = 0.05;
  return r;
}

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
                                  encode(R"({"parity": {"status": "FAIL"}})")));
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
