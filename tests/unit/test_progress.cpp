// The progress line (engine/progress): counts, bar, current migration, ETA from rehearsal
// estimates or this run's mean, width.
#include <catch2/catch.hpp>

#include "engine/progress.hpp"

using namespace std::chrono_literals;

TEST_CASE("progress: the ETA uses estimates, then this run's mean, and shrinks while one runs", "[progress]") {
  const auto t0 = rb::Progress::Clock::now();
  rb::Progress p({"a.sql", "b.sql", "c.sql", "d.sql"}, {{"c.sql", 10000}});
  CHECK_FALSE(p.eta_ms(t0));  // nothing to go on for a, b, d
  CHECK(p.line(t0).find("ETA") == std::string::npos);
  p.started(0, t0);
  CHECK(p.line(t0 + 1500ms).find("[1/4]") != std::string::npos);
  CHECK(p.line(t0 + 1500ms).find("a.sql 1.5 s") != std::string::npos);
  p.finished(0, 2000);
  // b and d at the mean (2 s), c at its estimate (10 s).
  REQUIRE(p.eta_ms(t0 + 2s));
  CHECK(*p.eta_ms(t0 + 2s) == Approx(14000));
  p.started(1, t0 + 2s);
  CHECK(*p.eta_ms(t0 + 3s) == Approx(13000));
  CHECK(*p.eta_ms(t0 + 9s) == Approx(12000));  // overdue: counts as about to finish, never negative
  p.finished(1, 4000);                          // mean now 3 s
  CHECK(*p.eta_ms(t0 + 6s) == Approx(13000));
  const auto line = p.line(t0 + 6s);
  CHECK(line.find("[2/4]") != std::string::npos);
  CHECK(line.find(" 50%") != std::string::npos);
  CHECK(line.find("ETA 13.0 s") != std::string::npos);
  CHECK(line.find("==========>") != std::string::npos);
  CHECK(line.find('\033') == std::string::npos);
  CHECK(p.line(t0, 12).size() <= 12);
}

TEST_CASE("progress: durations read like a person writes them", "[progress]") {
  CHECK(rb::duration_text(850) == "850 ms");
  CHECK(rb::duration_text(3200) == "3.2 s");
  CHECK(rb::duration_text(80000) == "1m20s");
  CHECK(rb::duration_text(7500000) == "2h05m");
}
