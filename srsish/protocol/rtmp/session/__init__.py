"""RTMP sessions over RtmpConnection: the server role (what a client asks, our answers) and the client role."""
