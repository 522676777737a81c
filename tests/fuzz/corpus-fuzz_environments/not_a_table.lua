return "staging"
