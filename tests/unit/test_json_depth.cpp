// engine/json_depth: where a JSON text nests too deeply, strings ignored.
#include <catch2/catch.hpp>

#include <string>

#include "engine/json_depth.hpp"

using rb::json_too_deep_at;

TEST_CASE("json_too_deep_at accepts documents up to the limit", "[json]") {
  CHECK_FALSE(json_too_deep_at(""));
  CHECK_FALSE(json_too_deep_at("{\"a\": [1, 2, {\"b\": null}]}"));
  CHECK_FALSE(json_too_deep_at(std::string(200, '[') + std::string(200, ']')));
  CHECK_FALSE(json_too_deep_at("[[]]", 2));
  // Depth is nesting, not the number of brackets: siblings do not add up.
  CHECK_FALSE(json_too_deep_at("[[], [], [[]], {}]", 3));
}

TEST_CASE("json_too_deep_at gives the 1-based byte of the first bracket past the limit", "[json]") {
  CHECK(json_too_deep_at(std::string(201, '[')) == 201u);
  CHECK(json_too_deep_at(std::string(100000, '[')) == 201u);
  CHECK(json_too_deep_at("[[[", 2) == 3u);
  CHECK(json_too_deep_at(" {\"a\": {\"b\": [", 2) == 14u);
}

TEST_CASE("json_too_deep_at ignores brackets inside strings and escaped quotes", "[json]") {
  CHECK_FALSE(json_too_deep_at("[\"[[[[{{{{\"]", 1));
  CHECK_FALSE(json_too_deep_at("[\"\\\"[[[\"]", 1));
  CHECK(json_too_deep_at("[\"\\\\\", [", 1) == 8u);  // the string ends at the unescaped quote
}
