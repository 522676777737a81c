return {
  staging = {
    database_env = "FUZZ_DATABASE_URL",
    backup = "sometimes",
    max_connections = "many",
    hooks = { pause_workers = "kubectl scale", reboot = { "reboot" } },
    colour = "blue",
  },
}
