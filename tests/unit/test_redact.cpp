// Redactor: registered secrets never reach printed, logged or recorded text.
#include <catch2/catch.hpp>

#include <string>

#include "engine/redact.hpp"

using rb::Redactor;

namespace {
std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}
}  // namespace

TEST_CASE("Redactor masks every occurrence of a registered secret", "[redact]") {
  Redactor r;
  const std::string secret = "hunter2-Pa55";
  r.add(secret);
  const std::string text = "password=" + secret + " again " + secret + secret + " end";
  const std::string out = r.apply(text);
  CHECK(out.find(secret) == std::string::npos);
  CHECK(out.find("hunter2") == std::string::npos);
  CHECK(count_of(out, "***") == 3);
  // The surrounding text survives untouched.
  CHECK(out.rfind("password=", 0) == 0);
  CHECK(out.find(" again ") != std::string::npos);
  CHECK(out.size() >= 4);
  CHECK(out.compare(out.size() - 4, 4, " end") == 0);
}

TEST_CASE("Redactor leaves text without secrets unchanged", "[redact]") {
  Redactor r;
  const std::string plain = "SELECT 1; -- nothing secret here";
  CHECK(r.apply(plain) == plain);
  r.add("topsecretvalue");
  CHECK(r.apply(plain) == plain);
  CHECK(r.apply("").empty());
}

TEST_CASE("Redactor ignores secrets shorter than 4 characters", "[redact]") {
  Redactor r;
  r.add("");
  r.add("a");
  r.add("ab");
  r.add("abc");
  const std::string text = "abc ab a cabbage";
  CHECK(r.apply(text) == text);

  // Exactly 4 characters is long enough to be masked.
  r.add("abcd");
  const std::string out = r.apply("xx abcd yy abc");
  CHECK(out.find("abcd") == std::string::npos);
  CHECK(out.find("***") != std::string::npos);
  CHECK(out.find(" abc") != std::string::npos);  // the 3-char prefix alone is not masked
}

TEST_CASE("Redactor masks the longest secret first so a containing secret is masked whole", "[redact]") {
  const std::string shorter = "token1234";
  const std::string longer = "token1234-extended-part";
  for (int order = 0; order < 2; ++order) {
    Redactor r;
    if (order == 0) {
      r.add(shorter);
      r.add(longer);
    } else {
      r.add(longer);
      r.add(shorter);
    }
    const std::string out = r.apply("a=" + longer + " b=" + shorter);
    INFO("registration order " << order << ": " << out);
    CHECK(out.find("token1234") == std::string::npos);
    // Masked whole: no remainder of the longer secret is left behind.
    CHECK(out.find("extended") == std::string::npos);
    CHECK(out.find("-part") == std::string::npos);
    CHECK(count_of(out, "***") == 2);
  }
}

TEST_CASE("Redactor handles a registered secret more than once and adjacent occurrences", "[redact]") {
  Redactor r;
  r.add("s3cr3t");
  r.add("s3cr3t");
  const std::string out = r.apply("s3cr3ts3cr3t|s3cr3t");
  CHECK(out.find("s3cr3t") == std::string::npos);
  CHECK(out.find('|') != std::string::npos);
}

TEST_CASE("Redactor::mask_url hides the password of a connection URL", "[redact]") {
  const std::string pw = "Sup3rS3cret";
  const std::string url = "postgres://app_user:" + pw + "@db.example.com:5432/appdb?sslmode=require";
  const std::string masked = Redactor::mask_url(url);
  CHECK(masked.find(pw) == std::string::npos);
  CHECK(masked.find("***") != std::string::npos);
  // Everything else an operator needs stays readable.
  CHECK(masked.find("postgres://") == 0);
  CHECK(masked.find("app_user") != std::string::npos);
  CHECK(masked.find("@db.example.com:5432/appdb?sslmode=require") != std::string::npos);

  const std::string url2 = "postgresql://u:" + pw + "@localhost/x";
  const std::string masked2 = Redactor::mask_url(url2);
  CHECK(masked2.find(pw) == std::string::npos);
  CHECK(masked2.find("@localhost/x") != std::string::npos);
}

TEST_CASE("Redactor::mask_url leaves URLs without a password unchanged", "[redact]") {
  for (const std::string url : {"postgres://app_user@db.example.com:5432/appdb", "postgres://db.example.com:5432/appdb",
                                "postgres://db.example.com/appdb?user=x", "host=db dbname=app user=x", ""}) {
    INFO(url);
    CHECK(Redactor::mask_url(url) == url);
  }
}

TEST_CASE("Redactor::mask_url looks for the password only in the authority part", "[redact]") {
  // No password here: the "@" belongs to a query parameter (e.g. Azure "user@server" names).
  // Masking must not rewrite the host and port into "***".
  const std::string url = "postgres://db.example.com:5432/appdb?user=admin@corp";
  const std::string masked = Redactor::mask_url(url);
  CHECK(masked.find("db.example.com:5432/appdb") != std::string::npos);
  CHECK(masked == url);
}

// Every form a connection string arrives in, including those libpq cannot parse and quotes whole
// in its error: the password, raw or percent-decoded, never survives apply().
TEST_CASE("Redactor::add_conninfo masks the password of every URL form, parseable or not", "[redact]") {
  const std::vector<std::pair<std::string, std::vector<std::string>>> forms = {
      {"postgresql://u:S3cretPw@localhost/db", {"S3cretPw"}},
      {"postgres://u:S3cretPw@localhost:5432/db?sslmode=disable", {"S3cretPw"}},
      {"postgresql+psycopg2://u:S3cretPw@localhost/db", {"S3cretPw"}},
      {"postgis://u:S3cretPw@localhost/db", {"S3cretPw"}},
      {"pgsql://u:S3cretPw@localhost/db", {"S3cretPw"}},
      {" postgresql://u:S3cretPw@localhost/db", {"S3cretPw"}},
      {"postgresql://u:S3cretPw@[::1/db", {"S3cretPw"}},
      {"postgresql://u:S3cr%zzPw@localhost/db", {"S3cr%zzPw"}},
      {"postgresql://u:S3cret%50w@localhost/db", {"S3cret%50w", "S3cretPw"}},
      {"host=/tmp dbname=x password=S3cretPw", {"S3cretPw"}},
      {"host=/tmp dbname=x password = 'S3cret Pw'", {"S3cret Pw"}},
      {"host=/tmp password='unterminated S3cretPw", {"unterminated S3cretPw"}},
  };
  for (const auto& [url, secrets] : forms) {
    INFO(url);
    rb::Redactor r;
    r.add_conninfo(url);
    for (const auto& s : secrets) {
      const std::string out = r.apply("error: missing \"=\" after \"" + url + "\"; password " + s + " and " + url);
      CHECK(out.find(s) == std::string::npos);
      CHECK(out.find("S3cr") == std::string::npos);
    }
  }
}
