"""Microblog users service: accounts, passwords, OAuth apps and tokens, profiles, the follow graph,
password reset."""
