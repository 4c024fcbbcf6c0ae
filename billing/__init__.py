"""Tally's billing domain core (no web framework, no job queue)."""
