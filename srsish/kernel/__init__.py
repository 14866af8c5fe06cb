"""Kernel: pure media code (codecs, FLV, MP4 and MPEG-TS muxers, m3u8, shared messages, jitter); no I/O, no clock."""
