"""The SQL mirror of chain state: models, engine and migrations."""
