"""What more than one service renders the way Mastodon does: text typed by a person turned into
safe HTML (`text.py`) and the Account entity (`accounts.py`)."""
