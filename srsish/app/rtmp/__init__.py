"""The RTMP side of the app: one greenlet per RTMP client, driving the sans-IO session from protocol/rtmp."""
