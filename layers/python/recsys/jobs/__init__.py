"""Scheduled jobs (the nightly refresh)."""
