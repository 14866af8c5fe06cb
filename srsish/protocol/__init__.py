"""Protocol: sans-IO wire protocols (AMF0, RTMP): bytes in, events out, bytes to send."""
