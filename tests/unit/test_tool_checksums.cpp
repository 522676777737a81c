// Checksums other tools keep in their ledgers, against values computed by the tools' own
// algorithms outside this project (java.util.zip.CRC32 line by line for Flyway, as
// ChecksumCalculator reads a file; sha384sum; md5sum).
#include <catch2/catch.hpp>

#include <string>

#include "engine/hash.hpp"
#include "engine/tool_ledger.hpp"

using rb::migrations::flyway_checksum;

TEST_CASE("Flyway's checksum: CRC-32 of the lines, BOM and line endings left out, signed", "[hash][tool-ledger]") {
  CHECK(flyway_checksum("CREATE TABLE t (id int);\n") == 92137680);
  CHECK(flyway_checksum("CREATE TABLE t (id int);") == 92137680);
  CHECK(flyway_checksum("CREATE TABLE t (id int);\r\n") == 92137680);
  CHECK(flyway_checksum("\xEF\xBB\xBF" "CREATE TABLE t (id int);\n") == 92137680);
  CHECK(flyway_checksum("CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n") == -956080171);
  CHECK(flyway_checksum("CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n") == -956080171);
  CHECK(flyway_checksum("") == 0);
  CHECK(flyway_checksum("\n\n") == 0);
  CHECK(flyway_checksum("CREATE TABLE t (id bigint);\n") != 92137680);
}

TEST_CASE("sqlx's SHA-384 and postgrator's MD5 of a file's bytes", "[hash][tool-ledger]") {
  // sha384sum / md5sum of the same bytes.
  CHECK(rb::sha384_hex("CREATE TABLE t (id int);\n") ==
        "e1cc0b49a7d453bb345d9fc52670c0bfd4a694b2befb7061a9bad55916701e1ef4ddd22ee7cb1c80b4317a1b5780422c");
  CHECK(rb::md5_hex("CREATE TABLE t (id int);\n") == "cd693128f6e326e5b6817a24ba8764af");
  CHECK(rb::crc32_update(0, "123456789") == 0xCBF43926u);  // the CRC-32 check value
  CHECK(rb::crc32_update(rb::crc32_update(0, "1234"), "56789") == 0xCBF43926u);
}
