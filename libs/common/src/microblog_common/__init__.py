"""Shared plumbing for the Microblog services. Services import from here; nothing is copied."""
