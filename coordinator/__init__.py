"""The DecentralML coordinator: a SQL mirror of the chain kept by an indexer (REST API to come)."""
