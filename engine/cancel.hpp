#pragma once
// The run's one cancel token. ^C, SIGTERM and SIGHUP request cancellation (the signal
// handler only bumps a counter); every long operation checks it at its safe points: between
// migrations and down scripts, in lock waits and retry backoff, in the shell poll loop and
// in HTTP retries. Bookkeeping that must finish once a change is committed (the ledger row
// of a non-transactional migration) runs inside a Shield, which defers statement cancels.
#include <string>

namespace rb::cancel {

// Async-signal-safe: records one request (signal number for the message).
void request(int signal_number) noexcept;
// True once cancellation was requested — inside a Cleanup scope, only by a request that
// arrived after the scope began.
bool requested() noexcept;
// How many requests arrived (a second ^C escalates: children are killed at once).
int count() noexcept;
// "^C", "SIGTERM", "SIGHUP": what asked, for messages. Empty when nothing did.
std::string reason();
// Sleeps up to `seconds` in short slices; returns false (early) when cancellation arrives.
bool sleep_for(double seconds);
// Tests only: forget earlier requests.
void reset() noexcept;

// Time limits. A deadline that passes requests cancellation once, like a signal would, with
// its label as the reason ("timeout: step apply exceeded 30s"); the run then unwinds through
// the same safe points and failure path as after ^C. The run and its current step each have
// one slot; setting a slot replaces it, clearing it (or its firing) empties it.
enum class Deadline { run, step };
void set_deadline(Deadline slot, double seconds_from_now, const std::string& label);
void clear_deadline(Deadline slot);
// Called periodically (the canceller thread): fires each deadline that has passed. Returns true
// when one fired.
bool check_deadlines();
// True when the last request came from a deadline, not a signal.
bool timed_out() noexcept;

// While a Shield exists, db::cancel_running_statements() waits instead of cancelling: the
// bookkeeping after a committed change is never cut off by ^C.
class Shield {
 public:
  Shield() noexcept;
  ~Shield();
  Shield(const Shield&) = delete;
  Shield& operator=(const Shield&) = delete;
};
bool shielded() noexcept;

// The failure path of an interrupted run (resume workers, leave maintenance) must still run:
// inside a Cleanup, the requests that stopped the run are forgotten, and only a further
// signal stops the cleanup itself.
class Cleanup {
 public:
  Cleanup() noexcept;
  ~Cleanup();
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;

 private:
  int previous_;
};

}  // namespace rb::cancel
