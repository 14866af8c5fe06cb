"""The HTTP side: one keep-alive server for static files, HTTP-FLV, SRS's API and HLS play sessions."""
