"""Microblog translate service: translation providers, the translation cache and the language list."""
