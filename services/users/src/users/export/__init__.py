"""Internal export of accounts and follows (the search service's rebuild)."""
