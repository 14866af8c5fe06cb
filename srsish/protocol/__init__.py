"""Protocol: sans-IO wire protocols (AMF0, RTMP in both roles, HTTP request reading): bytes in, events out, bytes to send."""
