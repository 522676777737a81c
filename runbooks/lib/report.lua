-- Plain-text tables for the operator's terminal (and the run record's Markdown).
local M = {}

--- Formats rows (lists of strings) under headers as an aligned table.
function M.table(headers, rows)
  local widths = {}
  for i, h in ipairs(headers) do widths[i] = #h end
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      local first = tostring(cell):match("^[^\n]*")
      if #first > (widths[i] or 0) then widths[i] = math.min(#first, 100) end
    end
  end
  local function line(cells)
    local out = {}
    for i, w in ipairs(widths) do
      local text = tostring(cells[i] or ""):match("^[^\n]*")
      if #text > 100 then text = text:sub(1, 97) .. "..." end
      out[i] = text .. string.rep(" ", w - #text)
    end
    return (table.concat(out, "  "):gsub("%s+$", ""))
  end
  local sep = {}
  for i, w in ipairs(widths) do sep[i] = string.rep("-", w) end
  local lines = { line(headers), line(sep) }
  for _, row in ipairs(rows) do lines[#lines + 1] = line(row) end
  return table.concat(lines, "\n")
end

--- "1.2 MB" style sizes.
function M.bytes(n)
  local units = { "B", "kB", "MB", "GB", "TB" }
  local i = 1
  while n >= 1024 and i < #units do n, i = n / 1024, i + 1 end
  return i == 1 and string.format("%d B", n) or string.format("%.1f %s", n, units[i])
end

return M
