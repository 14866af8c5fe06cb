"""App: the gevent server, in rooms: config, hooks, stats and clients (leaves), live fan-out, origin features,
the RTMP and HTTP sides, and server.py that wires them. tests/test_layering.py says which room may import which."""
