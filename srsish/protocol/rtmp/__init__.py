"""RTMP: handshake, chunk stream, connection, the server and client sessions and the shared media chunker, all sans-IO."""
