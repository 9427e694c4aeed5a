"""Microblog notify service: notifications, email, live streams (sse and websocket), email preferences."""
