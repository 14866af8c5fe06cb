"""Hooks: SRS's HTTP callbacks, their bodies, delivery and reply judging, and the background worker (a leaf)."""
