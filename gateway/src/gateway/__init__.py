"""The Microblog API gateway."""
