"""Cluster: srsish talking RTMP to other servers (edge pull and push, forward), as SRS's edge and forwarder do."""
