"""Rehearsing the workflow offline: local stand-ins for the services it downloads from."""
