#pragma once
// tests/support/http_server.py as a child process for tests: a real HTTP server on loopback.
// Shared by the unit tests of engine/http and the CLI tests of the HTTP checks.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <string>

#ifndef RUNBOOK_SOURCE_DIR
#error "RUNBOOK_SOURCE_DIR must name the source tree (set by tests/CMakeLists.txt)"
#endif

namespace rbtest {

// Percent-encodes a query-string value.
std::string url_encode(const std::string& s);
// A loopback TCP port nobody listens on (bound once, then released).
int unused_port();

// tests/support/http_server.py started as a child for one test: reads its port from the first
// line of its stdout; ended by closing its stdin and signalling its pid when the object goes away.
class HttpServer {
 public:
  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  int port() const { return port_; }
  std::string url(const std::string& path) const;  // http://127.0.0.1:PORT/path
  std::string json_url(const std::string& body, int status = 200) const;

 private:
  int pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
};

inline std::string url_encode(const std::string& s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

inline int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline HttpServer::HttpServer() {
  const std::string script = std::string(RUNBOOK_SOURCE_DIR) + "/tests/support/http_server.py";
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw std::runtime_error("pipe failed");
  }
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
  char ch;
  while (::read(out[0], &ch, 1) == 1 && ch != '\n') line += ch;
  ::close(out[0]);
  port_ = std::atoi(line.c_str());
  if (port_ <= 0) {
    ::close(stdin_fd_);
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    throw std::runtime_error("test HTTP server did not start: " + script);
  }
}

inline HttpServer::~HttpServer() {
  ::close(stdin_fd_);  // the server exits on its own when its stdin closes
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

inline std::string HttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

inline std::string HttpServer::json_url(const std::string& body, int status) const {
  return url("/json?body=" + url_encode(body) + "&status=" + std::to_string(status));
}

}  // namespace rbtest
