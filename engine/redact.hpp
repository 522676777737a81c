#pragma once
// Masks secrets (passwords, tokens) in anything printed, logged or recorded.
#include <string>
#include <vector>

namespace rb {

class Redactor {
 public:
  // Registers a secret value; values shorter than 4 characters are ignored because masking
  // them would garble ordinary output.
  void add(const std::string& secret);
  // Registers the password of a connection string in every form it may be printed in: as
  // libpq parses it (URL or key=value), and — because libpq quotes a string it cannot parse
  // whole in its error — as found by a lenient reading of anything shaped like
  // `scheme://user:password@...` or `password=...`, raw and percent-decoded.
  void add_conninfo(const std::string& conninfo);
  // A database credential (a connection string's password, PGPASSWORD): masked like any secret,
  // and also withheld from the environment of the commands a run starts (engine/shell.hpp).
  void add_credential(const std::string& secret);
  const std::vector<std::string>& credentials() const { return credentials_; }
  std::string apply(std::string text) const;
  // A connection URL with its password replaced by "***".
  static std::string mask_url(const std::string& url);

 private:
  std::vector<std::string> secrets_;
  std::vector<std::string> credentials_;
};

}  // namespace rb
