"""RTMP: handshake, chunk stream and the connection state machine, all sans-IO."""
