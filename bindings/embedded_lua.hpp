#pragma once
// Lua sources compiled into the binary (see cmake/embed_lua.cmake).
#include <cstddef>
#include <string_view>

namespace rb::lua {
struct EmbeddedChunk {
  const char* module;      // name for require()
  const char* chunk_name;  // "@runbook.lua", so errors read like a path
  std::string_view source;
};
extern const EmbeddedChunk kEmbeddedLua[];
extern const std::size_t kEmbeddedLuaCount;
}  // namespace rb::lua
