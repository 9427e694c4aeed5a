"""Microblog posts service: statuses, replies, favourites, edits, deletes, scheduled statuses,
timelines, language detection."""
