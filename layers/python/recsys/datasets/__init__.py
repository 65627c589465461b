"""Loaders that turn public data sets into the system's own catalog rows and events."""
