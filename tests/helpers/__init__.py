"""End-to-end test harness for srsish: server processes, real peers, media, probes."""
