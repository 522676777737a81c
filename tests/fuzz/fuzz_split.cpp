// libFuzzer target for the statement splitter rb::sql::analyze (engine/sql.cpp).
// Input: arbitrary bytes taken as the text of a migration file.
// A thrown rb::ConfigError (syntax error, NUL byte) is an accepted outcome; any other exception,
// a sanitizer report or a violated invariant (abort) is a bug.
// Build and run: scripts/fuzz [SECONDS].
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "engine/errors.hpp"
#include "engine/sql.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::size_t index, const rb::sql::Statement* st) {
  std::fprintf(stderr, "fuzz_split: invariant violated: %s (statement %zu)\n", what, index);
  if (st) {
    std::fprintf(stderr, "  offset=%zu length=%zu line=%d kind=%s\n  text=<<<%s>>>\n", st->offset,
                 st->length, st->line, st->kind.c_str(), st->text.c_str());
  }
  std::abort();
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// analyze(), with ConfigError reported as "no script" and anything else a bug.
bool try_analyze(const std::string& text, rb::sql::Script& out, bool must_parse,
                 const char* what) {
  try {
    out = rb::sql::analyze(text, "fuzz.sql");
    return true;
  } catch (const rb::ConfigError& e) {
    if (!must_parse) return false;
    std::fprintf(stderr, "fuzz_split: %s does not parse: %s\n  text=<<<%s>>>\n", what, e.what(),
                 text.c_str());
    std::abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_split: unexpected exception: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz_split: unexpected non-std exception\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  rb::sql::Script script;
  if (!try_analyze(input, script, false, "input")) return 0;

  const auto& stmts = script.statements;
  std::size_t prev_end = 0;
  std::string joined;
  for (std::size_t i = 0; i < stmts.size(); ++i) {
    const auto& st = stmts[i];
    if (st.text.empty() || st.length == 0) fail("empty statement text", i, &st);
    if (st.offset > input.size() || st.length > input.size() - st.offset) {
      fail("byte range outside the input", i, &st);
    }
    if (i > 0 && st.offset < prev_end) fail("statements out of order or overlapping", i, &st);
    prev_end = st.offset + st.length;
    if (st.text != input.substr(st.offset, st.length)) fail("text != input[offset, length)", i, &st);
    std::size_t newlines = 0;
    for (std::size_t p = 0; p < st.offset; ++p) newlines += input[p] == '\n';
    // text_line is where the text starts; line, where its first token is (after a leading comment).
    if (st.text_line != static_cast<int>(1 + newlines)) fail("text_line != 1 + newlines before offset", i, &st);
    if (st.line < st.text_line) fail("line before text_line", i, &st);
    if (is_space(st.text[0])) fail("text starts with whitespace", i, &st);
    if (st.text.compare(0, 2, "--") == 0) fail("text starts with a -- comment", i, &st);

    rb::sql::Script alone;
    try_analyze(st.text, alone, true, "statement text alone");
    if (alone.statements.size() != 1) fail("statement text alone is not exactly 1 statement", i, &st);
    if (alone.statements[0].kind != st.kind) fail("statement text alone has another kind", i, &st);

    if (i > 0) joined += '\n';
    joined += st.text;
  }

  // No statement's text runs into the next one (e.g. a trailing -- comment eating the separator).
  rb::sql::Script rejoined;
  try_analyze(joined, rejoined, true, "joined statement texts");
  if (rejoined.statements.size() != stmts.size()) {
    std::fprintf(stderr, "fuzz_split: joined texts give %zu statements, not %zu\n  joined=<<<%s>>>\n",
                 rejoined.statements.size(), stmts.size(), joined.c_str());
    std::abort();
  }
  for (std::size_t i = 0; i < stmts.size(); ++i) {
    if (rejoined.statements[i].kind != stmts[i].kind) {
      std::fprintf(stderr, "fuzz_split: joined texts: statement %zu is %s, not %s\n  joined=<<<%s>>>\n",
                   i, rejoined.statements[i].kind.c_str(), stmts[i].kind.c_str(), joined.c_str());
      std::abort();
    }
  }
  return 0;
}
