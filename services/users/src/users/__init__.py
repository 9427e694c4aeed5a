"""Microblog users service: accounts, passwords, oauth apps and tokens, profiles, the follow graph, password reset."""
