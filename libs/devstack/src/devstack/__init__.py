"""Running Microblog locally: embedded mode and local processes."""
