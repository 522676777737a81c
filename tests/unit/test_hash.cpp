// engine/hash: SHA-256 and HMAC-SHA-256 against published vectors; file hashing.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/errors.hpp"
#include "engine/hash.hpp"

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/runbook-hash-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string& name, const std::string& content) const {
    std::string file = path + "/" + name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }
};

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

}  // namespace

TEST_CASE("sha256_hex matches the FIPS 180-2 vectors", "[hash]") {
  CHECK(rb::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(rb::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(rb::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(rb::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256_hex hashes embedded NUL bytes", "[hash]") {
  std::string with_nul("a\0b", 3);
  CHECK(rb::sha256_hex(with_nul) != rb::sha256_hex("a"));
  CHECK(rb::sha256_hex(with_nul) != rb::sha256_hex("ab"));
}

TEST_CASE("Sha256 hashes incrementally and can be read more than once", "[hash]") {
  rb::Sha256 h;
  h.update("a");
  h.update("");
  h.update("bc");
  CHECK(h.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(h.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  h.update("d");
  CHECK(h.hex_digest() == rb::sha256_hex("abcd"));
}

TEST_CASE("hmac_sha256_hex matches the RFC 4231 vectors", "[hash]") {
  CHECK(rb::hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(rb::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Key longer than the block size is hashed first (RFC 4231 test case 6).
  CHECK(rb::hmac_sha256_hex(std::string(131, '\xaa'),
                            "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(rb::hmac_sha256_hex("", "") ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("sha256_file_hex equals hashing the same bytes as a string", "[hash]") {
  TempDir dir;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65535}, std::size_t{65536},
                           std::size_t{65537}, std::size_t{300001}}) {
    INFO("size " << size);
    std::string content = pattern(size);
    std::string file = dir.write("f" + std::to_string(size), content);
    CHECK(rb::sha256_file_hex(file) == rb::sha256_hex(content));
  }
  CHECK(rb::sha256_file_hex(dir.write("abc", "abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256_file_hex names the path when the file cannot be read", "[hash]") {
  TempDir dir;
  std::string missing = dir.path + "/no-such-file.sql";
  try {
    rb::sha256_file_hex(missing);
    FAIL("no error for a missing file");
  } catch (const rb::ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains(missing) && Catch::Contains("No such file or directory"));
  }
  try {
    rb::sha256_file_hex(dir.path);
    FAIL("no error for a directory");
  } catch (const rb::ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains(dir.path) && Catch::Contains("Is a directory"));
  }
}
