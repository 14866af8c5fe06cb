"""Kernel: pure media containers and codecs (FLV, codec inspection); no I/O, no clock."""
