"""App: the gevent server: sockets, greenlets, sources, consumers, hooks and config."""
