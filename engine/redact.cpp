#include "engine/redact.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>

namespace rb {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `s` percent-decoded; `s` itself when an escape is malformed.
std::string percent_decoded(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1, lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return s;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}
}  // namespace

void Redactor::add_conninfo(const std::string& conninfo) {
  if (conninfo.empty()) return;
  char* err = nullptr;
  if (PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err)) {
    for (auto* o = opts; o->keyword; ++o)
      if (std::string(o->keyword) == "password" && o->val) add_credential(o->val);
    PQconninfoFree(opts);
  }
  if (err) PQfreemem(err);
  // Every `://user:password@` in the text, whatever the scheme (postgis://, pgsql://,
  // postgresql+psycopg2://) and whatever follows (an unclosed [::1, a bad %zz escape).
  for (auto scheme = conninfo.find("://"); scheme != std::string::npos; scheme = conninfo.find("://", scheme + 3)) {
    const auto start = scheme + 3;
    auto end = conninfo.find_first_of("/?# \t", start);
    if (end == std::string::npos) end = conninfo.size();
    const auto at = conninfo.rfind('@', end);
    if (at == std::string::npos || at < start) continue;
    const auto colon = conninfo.find(':', start);
    if (colon == std::string::npos || colon > at) continue;
    const std::string pw = conninfo.substr(colon + 1, at - colon - 1);
    add_credential(pw);
    add_credential(percent_decoded(pw));
  }
  // key=value: password=secret or password='a secret'.
  for (auto at = conninfo.find("password"); at != std::string::npos; at = conninfo.find("password", at + 8)) {
    auto i = at + 8;
    while (i < conninfo.size() && std::isspace(static_cast<unsigned char>(conninfo[i]))) ++i;
    if (i >= conninfo.size() || conninfo[i] != '=') continue;
    ++i;
    while (i < conninfo.size() && std::isspace(static_cast<unsigned char>(conninfo[i]))) ++i;
    std::string value;
    if (i < conninfo.size() && conninfo[i] == '\'') {
      for (++i; i < conninfo.size() && conninfo[i] != '\''; ++i) value += conninfo[i] == '\\' && i + 1 < conninfo.size() ? conninfo[++i] : conninfo[i];
    } else {
      while (i < conninfo.size() && !std::isspace(static_cast<unsigned char>(conninfo[i]))) value += conninfo[i++];
    }
    add_credential(value);
  }
}

void Redactor::add_credential(const std::string& secret) {
  if (secret.size() < 4) return;
  add(secret);
  if (std::find(credentials_.begin(), credentials_.end(), secret) == credentials_.end()) credentials_.push_back(secret);
}

void Redactor::add(const std::string& secret) {
  if (secret.size() < 4) return;
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return;
  secrets_.push_back(secret);
  // Longest first, so a secret that contains another is masked whole.
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Redactor::apply(std::string text) const {
  for (const auto& s : secrets_) {
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

std::string Redactor::mask_url(const std::string& url) {
  // scheme://user:password@host... -> scheme://user:***@host...
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  // user:password@ lives in the authority, before the first '/', '?' or '#'.
  const auto authority_end = url.find_first_of("/?#", scheme + 3);
  const auto at = url.rfind('@', authority_end == std::string::npos ? std::string::npos : authority_end);
  if (at == std::string::npos || at < scheme + 3) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace rb
