return {
  staging = { database_env = "FUZZ_DATABASE_URL" },
}
