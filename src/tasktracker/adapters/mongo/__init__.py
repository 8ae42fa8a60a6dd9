"""MongoDB adapter: connection, indexes, repositories and read-only queries (pymongo only)."""
