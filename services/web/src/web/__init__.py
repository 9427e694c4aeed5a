"""Microblog web service: the web UI."""
