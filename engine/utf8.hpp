#pragma once
// UTF-8 checks for what reaches the server and the operator: SQL text, file names.
#include <cstddef>
#include <string>

namespace rb::utf8 {

// Offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or npos.
std::size_t first_invalid(const std::string& s);

// `s` with every byte that is not well-formed UTF-8 written as \xNN, so a message can name it.
std::string escaped(const std::string& s);

// Shortens `s` to at most `max_bytes`, never inside a character (a line cut to a terminal's width).
void cut(std::string& s, std::size_t max_bytes);

}  // namespace rb::utf8
