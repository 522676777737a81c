#pragma once
// Nesting limits for JSON crossing the Lua boundary. Encoding, decoding and pushing a document
// into Lua all recurse once per level, so a hostile or accidental 100,000-deep document would
// overflow the C stack; each refuses past kMaxJsonDepth instead.
#include <cstddef>
#include <optional>
#include <string_view>

namespace rb {

inline constexpr int kMaxJsonDepth = 200;

// The 1-based byte position of the '[' or '{' that opens nesting level max_depth + 1 of JSON
// `text`, or nullopt when it nests no deeper than max_depth. Brackets inside strings do not
// count. The text need not be valid JSON (the parser reports that afterwards).
std::optional<std::size_t> json_too_deep_at(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace rb
