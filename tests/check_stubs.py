#!/usr/bin/env python3
"""Checks that the LuaLS stubs in runbooks/types/ name exactly what the bindings register.

Usage: check_stubs.py [SOURCE_DIR]   (default: the parent of this script's directory)

Sources of truth:
  * bindings/modules.hpp names each module and its binding file
    (`int open_db(lua_State* L);  // require "db"  bindings/lua_db.cpp`). `runbook.host` is
    internal to bindings/lua/runbook.lua and has no stub.
  * In each binding file, the `luaL_Reg NAME[] = { {"name", fn}, ..., {nullptr, nullptr} }`
    tables. A table listed in METHOD_TABLES holds the methods of a handle (the userdata's
    __index); the one other table holds the module's functions.
  * bindings/lua/runbook.lua: the top-level `function M.name` (module functions), `M.NAME =`
    (module fields), `function Runbook:name` and `function Context:name` (methods), and the keys
    of the `setmetatable({ ... }, Runbook)` / `setmetatable({ ... }, Context)` constructors
    (fields; keys starting with `_` are private). `local function`s are private.

The stubs, one file per module: runbooks/types/MODULE.lua. The mapping is by name:
  module functions  `function db.connect(url_or_options)`  (the module's local is its own name)
  module fields     `runbook.EXIT = ...`
  handle methods    `function Connection:query(sql, ...)`, where the stub declares
                    `---@class db.Connection` right before `local Connection = {}`
  class fields      `---@field name type` lines of that `---@class` block (runbook.lua only)
with these owners (the same local names as in the code, so a diff reads naturally):
  db          kConnMethods   -> Connection  (---@class db.Connection)
  db          kClusterMethods -> Cluster    (---@class db.Cluster)
  migrations  kChainMethods  -> Chain       (---@class migrations.Chain)
  runbook     Runbook:       -> Runbook     (---@class runbook.Runbook)
  runbook     Context:       -> Context     (---@class runbook.Context)

Every stub function must also carry a description line and a `---@param` for each of its
parameters. Exit status 0 when everything agrees; otherwise 1, listing every missing and extra
name per module.
"""

import os
import re
import sys

# luaL_Reg tables of handle methods -> (module, stub owner).
METHOD_TABLES = {
    "kConnMethods": ("db", "Connection"),
    "kClusterMethods": ("db", "Cluster"),
    "kChainMethods": ("migrations", "Chain"),
    "kPlanMethods": ("migrations", "Plan"),
}
# Owners of top-level functions in bindings/lua/runbook.lua -> stub owner ("" = module function).
LUA_OWNERS = {"M": "", "Runbook": "Runbook", "Context": "Context"}
# Classes of runbook.lua whose fields are checked too (from their setmetatable constructors).
LUA_FIELD_CLASSES = ("Runbook", "Context")
# Modules that have no stub.
INTERNAL_MODULES = {"runbook.host"}
LUA_MODULE = "runbook"
LUA_MODULE_FILE = "bindings/lua/runbook.lua"


class Names:
    """What one side (code or stubs) says a module has: {(owner, kind, name)}.

    kind is "." (module function), ":" (method) or "field"."""

    def __init__(self):
        self.items = set()

    def add(self, owner, kind, name):
        self.items.add((owner, kind, name))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_cpp_comments(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_lua_long_comments(text):
    return re.sub(r"--\[(=*)\[.*?\]\1\]", "", text, flags=re.S)


def modules_from_header(root, problems):
    """{module: binding file} from bindings/modules.hpp."""
    mods = {}
    pattern = re.compile(r'int\s+open_\w+\s*\(\s*lua_State\s*\*\s*\w*\s*\)\s*;\s*//\s*require\s+"([\w.]+)"\s+(\S+)')
    for m in pattern.finditer(read(os.path.join(root, "bindings/modules.hpp"))):
        if m.group(1) not in INTERNAL_MODULES:
            mods[m.group(1)] = m.group(2)
    if not mods:
        problems.append("bindings/modules.hpp: no `// require \"name\" file` comments found")
    return mods


def reg_tables(text):
    """[(table name, [entry names])] of the luaL_Reg tables defined in C++ text."""
    tables = []
    for m in re.finditer(r"luaL_Reg\s+(\w+)\s*\[\s*\]\s*=\s*\{", text):
        end = re.compile(r"\{\s*(?:nullptr|NULL|0)\s*,\s*(?:nullptr|NULL|0)\s*\}").search(text, m.end())
        if not end:
            tables.append((m.group(1), None))
            continue
        body = text[m.end():end.start()]
        tables.append((m.group(1), re.findall(r'\{\s*"([^"]+)"\s*,', body)))
    return tables


def code_names_cpp(root, module, rel, problems):
    names = Names()
    # A module may span files: `bindings/lua_migrations.cpp+bindings/lua_plan.cpp`.
    text = ""
    for part in rel.split("+"):
        path = os.path.join(root, part)
        if not os.path.exists(path):
            problems.append(f"{module}: binding file {part} (named in bindings/modules.hpp) does not exist")
            return names
        text += strip_cpp_comments(read(path)) + "\n"
    function_tables = []
    for table, entries in reg_tables(text):
        if entries is None:
            problems.append(f"{rel}: luaL_Reg {table} has no {{nullptr, nullptr}} terminator")
            continue
        if table in METHOD_TABLES:
            owner_module, owner = METHOD_TABLES[table]
            if owner_module != module:
                problems.append(f"{rel}: {table} is mapped to module {owner_module} in METHOD_TABLES")
            for e in entries:
                names.add(owner, ":", e)
        elif table.endswith("Methods"):
            problems.append(f"{rel}: method table {table} is not mapped: add it to METHOD_TABLES in {__file__}")
        else:
            function_tables.append(table)
            for e in entries:
                names.add("", ".", e)
    if len(function_tables) != 1:
        problems.append(f"{rel}: expected one luaL_Reg table of module functions, found {function_tables or 'none'}")
    return names


def matching_brace(text, start):
    """Index of the `}` closing the `{` at text[start], skipping Lua strings."""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def top_level_keys(body):
    """Keys `name = value` at depth 0 of a Lua table constructor's body."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(body):
        c = body[i]
        if c in "\"'":
            j = i + 1
            while j < len(body) and body[j] != c:
                j += 2 if body[j] == "\\" else 1
            cur.append(body[i:j + 1])
            i = j + 1
            continue
        if body.startswith("--", i):  # a line comment: skip to the end of the line
            j = body.find("\n", i)
            i = len(body) if j < 0 else j
            continue
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c in ",;" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    keys = set()
    for p in parts:
        m = re.match(r"\s*(\w+)\s*=(?!=)", p)
        if m:
            keys.add(m.group(1))
    return keys


def code_names_lua(root, problems):
    names = Names()
    text = strip_lua_long_comments(read(os.path.join(root, LUA_MODULE_FILE)))
    for m in re.finditer(r"^function\s+(\w+)\s*([.:])\s*(\w+)\s*\(", text, flags=re.M):
        owner, sep, name = m.groups()
        if owner not in LUA_OWNERS:
            problems.append(f"{LUA_MODULE_FILE}: function {owner}{sep}{name}: owner {owner} is not mapped in LUA_OWNERS")
            continue
        names.add(LUA_OWNERS[owner], sep, name)
    for m in re.finditer(r"^M\.(\w+)\s*=(?!=)", text, flags=re.M):
        names.add("", "field", m.group(1))
    found = set()
    for m in re.finditer(r"setmetatable\s*\(\s*\{", text):
        close = matching_brace(text, m.end() - 1)
        if close < 0:
            continue
        tail = re.match(r"\s*,\s*(\w+)\s*\)", text[close + 1:])
        if not tail or tail.group(1) not in LUA_FIELD_CLASSES:
            continue
        found.add(tail.group(1))
        for key in top_level_keys(text[m.end():close]):
            if not key.startswith("_"):
                names.add(tail.group(1), "field", key)
    for cls in LUA_FIELD_CLASSES:
        if cls not in found:
            problems.append(f"{LUA_MODULE_FILE}: no `setmetatable({{ ... }}, {cls})` constructor found to read its fields from")
    return names


def doc_block(lines, index):
    """The `---` comment lines right above lines[index]."""
    block = []
    i = index - 1
    while i >= 0 and lines[i].startswith("---"):
        block.insert(0, lines[i])
        i -= 1
    return block


def stub_names(module, root, path, problems):
    names = Names()
    rel = os.path.relpath(path, root)
    text = read(path)
    lines = text.split("\n")
    if not lines or not lines[0].startswith("---@meta"):
        problems.append(f"{rel}: the first line must be ---@meta")
    local_name = module.split(".")[-1]
    # Class owners: `---@class module.Owner` directly above `local Owner = {}`.
    owners = {}
    for i, line in enumerate(lines):
        m = re.match(r"local\s+(\w+)\s*=\s*\{\s*\}", line)
        if not m or m.group(1) == local_name:
            continue
        block = doc_block(lines, i)
        cls = [b for b in block if b.startswith("---@class")]
        want = f"{module}.{m.group(1)}"
        if not cls or not re.match(rf"---@class\s+{re.escape(want)}\b", cls[0]):
            problems.append(f"{rel}:{i + 1}: local {m.group(1)} needs `---@class {want}` right above it")
        owners[m.group(1)] = i
        for b in block:
            f = re.match(r"---@field\s+(\w+)\??\s", b + " ")
            if f:
                names.add(m.group(1), "field", f.group(1))
    for i, line in enumerate(lines):
        m = re.match(r"function\s+(\w+)\s*([.:])\s*(\w+)\s*\(([^)]*)\)", line)
        if m:
            owner, sep, name, params = m.groups()
            if owner == local_name:
                owner = ""
            elif owner not in owners:
                problems.append(f"{rel}:{i + 1}: function {owner}{sep}{name}: {owner} is neither `{local_name}` nor a declared class")
                continue
            names.add(owner, sep, name)
            block = doc_block(lines, i)
            if not any(not b.startswith("---@") and b.strip("- ") for b in block):
                problems.append(f"{rel}:{i + 1}: {owner or local_name}{sep}{name} has no description")
            documented = {p.group(1) for p in (re.match(r"---@param\s+(\.\.\.|\w+)", b) for b in block) if p}
            for p in (x.strip() for x in params.split(",") if x.strip()):
                if p not in documented:
                    problems.append(f"{rel}:{i + 1}: {owner or local_name}{sep}{name}: parameter {p} has no ---@param")
            continue
        m = re.match(rf"{re.escape(local_name)}\.(\w+)\s*=(?!=)", line)
        if m:
            names.add("", "field", m.group(1))
    return names


def describe(module, owner, kind, name):
    if kind == "field":
        return f"field {module}.{name}" if not owner else f"field {owner}.{name} (---@class {module}.{owner})"
    return f"{module}.{name}" if not owner else f"{owner}:{name} (---@class {module}.{owner})"


def compare(module, code, stub, problems):
    missing = sorted(code.items - stub.items)
    extra = sorted(stub.items - code.items)
    for owner, kind, name in missing:
        other = {(o, k, n) for (o, k, n) in stub.items if o == owner and n == name}
        if other:
            problems.append(f"{module}: {describe(module, owner, kind, name)} is declared with the wrong separator in the stub")
        else:
            problems.append(f"{module}: missing in stub: {describe(module, owner, kind, name)}")
    for owner, kind, name in extra:
        if any(o == owner and n == name for (o, _, n) in code.items):
            continue  # reported above as a separator mismatch
        problems.append(f"{module}: extra in stub (not registered): {describe(module, owner, kind, name)}")
    return len(code.items)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    types_dir = os.path.join(root, "runbooks", "types")
    problems = []
    modules = modules_from_header(root, problems)
    code = {m: code_names_cpp(root, m, rel, problems) for m, rel in modules.items()}
    code[LUA_MODULE] = code_names_lua(root, problems)

    checked = 0
    for module in sorted(code):
        path = os.path.join(types_dir, module + ".lua")
        if not os.path.exists(path):
            problems.append(f"{module}: no stub file runbooks/types/{module}.lua")
            continue
        checked += compare(module, code[module], stub_names(module, root, path, problems), problems)
    for f in sorted(os.listdir(types_dir)) if os.path.isdir(types_dir) else []:
        if f.endswith(".lua") and f[:-4] not in code:
            problems.append(f"runbooks/types/{f}: no such module is registered")

    if problems:
        print(f"runbooks/types/ does not match the bindings ({len(problems)} problem(s)):")
        for p in problems:
            print("  " + p)
        return 1
    print(f"stubs match the bindings: {checked} names in {len(code)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
