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
  std::string apply(std::string text) const;
  // A connection URL with its password replaced by "***".
  static std::string mask_url(const std::string& url);

 private:
  std::vector<std::string> secrets_;
};

}  // namespace rb
