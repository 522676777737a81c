local url = os.getenv("FUZZ_DATABASE_URL")
if not url then error({ code = 7 }) end
return { staging = { database_env = "FUZZ_DATABASE_URL", confirm = url:sub(1, 8) } }
