"""Core: the lowest layer (ids, errors, logging); imports only the standard library."""
