#include "engine/shell.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "engine/cancel.hpp"
#include "engine/errors.hpp"

extern char** environ;

namespace rb {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kKillGrace = std::chrono::seconds(2);
// How long output is still read once the program has exited, in case a background process
// it started keeps the pipes open.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(200);
constexpr std::size_t kChunk = 64 * 1024;

std::string errno_text(int err) { return std::strerror(err); }

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

Pipe make_pipe(const std::string& program) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw StepError("cannot run '" + program + "': pipe: " + errno_text(errno));
  return Pipe{Fd(p[0]), Fd(p[1])};
}

void set_nonblocking(const Fd& fd) {
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
}

// Blocks SIGPIPE in this thread while the child's stdin is written; a SIGPIPE raised by
// writing to a pipe the child closed is consumed here instead of ending the process
// (the write then fails with EPIPE, which is handled).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    if (!was_pending_) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&set, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

// Makes sure a started child never outlives an exception: its process group is killed and
// the child reaped. Only the group this object started is ever signalled.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Signals the whole group. Safe until reap(): the unreaped leader keeps its pid, and so
  // the group id, from being reused.
  void signal_group(int sig) const { ::kill(-pid_, sig); }

  // True once the child has exited; it stays a zombie (WNOWAIT) until reap().
  bool has_exited() const {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
      return errno == ECHILD;  // already reaped by the system (SIGCHLD set to SIG_IGN)
    return info.si_pid == pid_;
  }

  // The wait status, or nothing when the system reaped the child itself.
  std::optional<int> reap() {
    int status = 0;
    pid_t rc;
    while ((rc = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    if (rc != pid_) return std::nullopt;
    return status;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

// What the child reports through the exec-error pipe when it cannot start the program.
struct ExecFailure {
  int stage;  // 1: chdir, 2: exec
  int error;
};

// Moves a descriptor above 2 so that the dup2() calls onto 0..2 cannot clobber it.
int lift_fd(int fd) { return fd > 2 ? fd : ::fcntl(fd, F_DUPFD_CLOEXEC, 3); }

[[noreturn]] void child_fail(int report_fd, int stage) {
  ExecFailure failure{stage, errno};
  ssize_t ignored = ::write(report_fd, &failure, sizeof failure);
  (void)ignored;
  ::_exit(127);
}

// Runs in the forked child: only async-signal-safe calls from here on.
[[noreturn]] void exec_child(int in_fd, int out_fd, int err_fd, int report_fd, const char* cwd,
                             char** envp, char** argv) {
  ::setpgid(0, 0);
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGPIPE, &dfl, nullptr);  // an ignored signal would stay ignored across exec
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  report_fd = lift_fd(report_fd);
  in_fd = lift_fd(in_fd);
  out_fd = lift_fd(out_fd);
  err_fd = lift_fd(err_fd);
  if (report_fd < 0 || in_fd < 0 || out_fd < 0 || err_fd < 0) child_fail(report_fd, 2);
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0)
    child_fail(report_fd, 2);
  if (cwd && ::chdir(cwd) != 0) child_fail(report_fd, 1);
  if (envp) environ = envp;
  ::execvp(argv[0], argv);
  child_fail(report_fd, 2);
}

// The inherited environment with the command's variables added or replaced, and without the
// variables that hold a withheld value.
std::vector<std::string> merged_environment(const std::map<std::string, std::string>& env,
                                            const std::vector<std::string>& withheld) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (env.count(entry.substr(0, eq))) continue;
    const std::string value = eq == std::string::npos ? "" : entry.substr(eq + 1);
    if (std::any_of(withheld.begin(), withheld.end(),
                    [&](const std::string& w) { return !w.empty() && value.find(w) != std::string::npos; }))
      continue;
    out.push_back(std::move(entry));
  }
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

// Appends up to the capture limit; the rest is dropped and the stream marked truncated.
void capture(std::string& into, bool& truncated, const char* data, std::size_t n,
             std::size_t limit) {
  std::size_t room = into.size() < limit ? limit - into.size() : 0;
  into.append(data, std::min(n, room));
  if (n > room) truncated = true;
}

// Reads what is available; closes the descriptor at end of file or on error.
void drain(Fd& fd, std::string& into, bool& truncated, std::size_t limit) {
  char buf[kChunk];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      capture(into, truncated, buf, static_cast<std::size_t>(n), limit);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    fd.reset();
    return;
  }
}

int poll_timeout_ms(Clock::time_point now, std::initializer_list<const Clock::time_point*> due,
                    int cap_ms) {
  long long ms = cap_ms;
  for (const auto* t : due) {
    if (!t) continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*t - now).count() + 1;
    ms = std::min(ms, std::max(0LL, static_cast<long long>(left)));
  }
  return static_cast<int>(ms);
}

}  // namespace

CommandResult run_command(const Command& command) {
  if (command.argv.empty() || command.argv[0].empty())
    throw ConfigError("cannot run a command without a program name");
  const std::string& program = command.argv[0];
  if (cancel::requested())
    throw AbortError("'" + program + "' was not started: the run was interrupted by " +
                     cancel::reason());

  // Everything the child needs is built before fork: the child may not allocate.
  std::vector<char*> argv;
  for (const auto& a : command.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  if (!command.env.empty() || !command.withheld_values.empty()) {
    env_storage = merged_environment(command.env, command.withheld_values);
    for (const auto& e : env_storage) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }

  Pipe in = make_pipe(program), out = make_pipe(program), err = make_pipe(program);
  Pipe report = make_pipe(program);
  SigpipeBlock sigpipe_block;

  const auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw StepError("cannot run '" + program + "': fork: " + errno_text(errno));
  if (pid == 0)
    exec_child(in.read.get(), out.write.get(), err.write.get(), report.write.get(),
               command.cwd.empty() ? nullptr : command.cwd.c_str(),
               envp.empty() ? nullptr : envp.data(), argv.data());

  Child child(pid);
  ::setpgid(pid, pid);  // also done by the child; whichever runs first wins the race
  in.read.reset();
  out.write.reset();
  err.write.reset();
  report.write.reset();

  // The report pipe closes on a successful exec (CLOEXEC) or carries the failure.
  ExecFailure failure{0, 0};
  ssize_t got;
  while ((got = ::read(report.read.get(), &failure, sizeof failure)) < 0 && errno == EINTR) {
  }
  if (got == static_cast<ssize_t>(sizeof failure)) {
    child.reap();
    if (failure.stage == 1)
      throw StepError("cannot run '" + program + "': cannot change directory to '" +
                      command.cwd + "': " + errno_text(failure.error));
    throw StepError("cannot run '" + program + "': " + errno_text(failure.error));
  }

  CommandResult result;
  Fd& to_child = in.write;
  std::size_t written = 0;
  if (command.stdin_data.empty()) to_child.reset();
  set_nonblocking(to_child);
  set_nonblocking(out.read);
  set_nonblocking(err.read);

  std::optional<Clock::time_point> deadline, kill_at, drain_until;
  if (command.timeout_s > 0)
    deadline = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(command.timeout_s));
  bool exited = false, killed = false;

  for (;;) {
    auto now = Clock::now();
    if (!exited && child.has_exited()) {
      exited = true;
      if (!result.timed_out && !result.cancelled) drain_until = now + kDrainAfterExit;
    }
    bool reading = out.read.open() || err.read.open();
    if (exited && !reading) break;
    if (exited && drain_until && now >= *drain_until) break;
    if (!exited && deadline && !result.timed_out && now >= *deadline) {
      result.timed_out = true;
      child.signal_group(SIGTERM);
      kill_at = now + kKillGrace;
    }
    // The run was interrupted: one request stops the command like a timeout does, a second
    // one kills it at once.
    if (!exited && !result.cancelled && cancel::requested()) {
      result.cancelled = true;
      child.signal_group(SIGTERM);
      if (!kill_at || *kill_at > now + kKillGrace) kill_at = now + kKillGrace;
    }
    if (result.cancelled && !killed && cancel::count() >= 2) kill_at = now;
    if (kill_at && !killed && now >= *kill_at) {
      killed = true;
      child.signal_group(SIGKILL);
      drain_until = now + kDrainAfterExit;
    }

    pollfd fds[3];
    nfds_t n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out.read.open()) fds[out_i = static_cast<int>(n++)] = {out.read.get(), POLLIN, 0};
    if (err.read.open()) fds[err_i = static_cast<int>(n++)] = {err.read.get(), POLLIN, 0};
    if (to_child.open()) fds[in_i = static_cast<int>(n++)] = {to_child.get(), POLLOUT, 0};

    const Clock::time_point* due_deadline = (deadline && !result.timed_out) ? &*deadline : nullptr;
    const Clock::time_point* due_kill = (kill_at && !killed) ? &*kill_at : nullptr;
    const Clock::time_point* due_drain = drain_until ? &*drain_until : nullptr;
    // Child exit and the cancel token are polled (no SIGCHLD handler is installed), hence
    // the short cap; a signal to the runner also ends the poll early (EINTR).
    int wait_ms = poll_timeout_ms(now, {due_deadline, due_kill, due_drain}, n == 0 ? 5 : 50);
    int ready = ::poll(n ? fds : nullptr, n, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw StepError("running '" + program + "': poll: " + errno_text(errno));
    }
    if (ready == 0) continue;

    if (out_i >= 0 && fds[out_i].revents)
      drain(out.read, result.out, result.out_truncated, command.capture_limit);
    if (err_i >= 0 && fds[err_i].revents)
      drain(err.read, result.err, result.err_truncated, command.capture_limit);
    if (in_i >= 0 && fds[in_i].revents) {
      if (fds[in_i].revents & (POLLERR | POLLHUP)) {
        to_child.reset();  // the child closed its stdin
      } else {
        std::size_t len = std::min(kChunk, command.stdin_data.size() - written);
        ssize_t w = ::write(to_child.get(), command.stdin_data.data() + written, len);
        if (w > 0) written += static_cast<std::size_t>(w);
        else if (w < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
          to_child.reset();  // EPIPE: the child does not read its stdin
        if (written == command.stdin_data.size()) to_child.reset();
      }
    }
  }

  // A timed-out or cancelled command goes completely: stragglers of its group get SIGKILL
  // while the unreaped leader still holds the group id.
  if ((result.timed_out || result.cancelled) && !killed) child.signal_group(SIGKILL);
  result.killed = killed;
  std::optional<int> status = child.reap();
  result.duration_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (status && WIFEXITED(*status)) {
    result.exit_code = WEXITSTATUS(*status);
  } else if (status && WIFSIGNALED(*status)) {
    result.exit_code = -1;
    result.term_signal = WTERMSIG(*status);
  } else {
    result.exit_code = -1;  // the exit status was lost
  }
  return result;
}

std::string format_argv(const std::vector<std::string>& argv) {
  static const char safe[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-";
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    if (!arg.empty() && arg.find_first_not_of(safe) == std::string::npos) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'') out += "'\\''";
      else out += c;
    }
    out += '\'';
  }
  return out;
}

std::optional<std::string> find_program(const std::string& name) {
  auto executable = [](const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
  };
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (executable(name)) return name;
    return std::nullopt;
  }
  const char* env_path = std::getenv("PATH");
  std::string path = env_path ? env_path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t begin = 0;
  for (;;) {
    std::size_t end = path.find(':', begin);
    std::string dir = path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (executable(candidate)) return candidate;
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return std::nullopt;
}

}  // namespace rb
