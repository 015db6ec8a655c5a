"""End-to-end tests: ``pfedit apply relay-auth`` against a real, throw-away Postfix instance."""
