return { prod = { database_env = "PROD_DATABASE_URL" } }
