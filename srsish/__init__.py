"""srsish: a live-streaming origin server in Python that follows SRS conventions."""

VERSION = "0.1.0"
SERVER_NAME = "srsish"
SIGNATURE = f"{SERVER_NAME}/{VERSION}"
