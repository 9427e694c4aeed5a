"""Internal export of statuses and favourites (the search service's rebuild)."""
