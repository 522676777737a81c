#pragma once
// SHA-256 and HMAC-SHA-256 over OpenSSL EVP, lowercase hex output.
#include <cstdint>
#include <string>
#include <string_view>

namespace rb {

// Incremental SHA-256. hex_digest() may be called at any time and does not end the stream:
// more update() calls may follow and extend the same message.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view data);
  std::string hex_digest();

 private:
  struct Impl;
  Impl* impl_;
};

std::string sha256_hex(std::string_view data);
// Streams the file in 64 KiB chunks. Throws rb::ConfigError naming the path on failure.
std::string sha256_file_hex(const std::string& path);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// MD5, lowercase hex (postgrator's migration checksum; not for security).
std::string md5_hex(std::string_view data);
// SHA-384, lowercase hex (sqlx's migration checksum).
std::string sha384_hex(std::string_view data);
// CRC-32 (IEEE 802.3, zlib's and java.util.zip.CRC32's), continuing from `crc` (0 to start).
std::uint32_t crc32_update(std::uint32_t crc, std::string_view data);

}  // namespace rb
