"""Core: the lowest layer (errors, ids, logging, the naming and path policy); imports only the standard library."""
