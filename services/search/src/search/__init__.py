"""Microblog search service: the search index of statuses, accounts and hashtags."""
