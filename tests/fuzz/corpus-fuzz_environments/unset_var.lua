local base = { backup = "skip" }
local envs = {}
envs.staging = setmetatable({ database_env = "NOT_SET_ANYWHERE_" .. "X" }, { __index = base })
return envs
