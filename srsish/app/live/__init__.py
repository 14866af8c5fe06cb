"""Live fan-out: a source per stream (GOP and metadata cache), a bounded consumer per player, merged writes."""
