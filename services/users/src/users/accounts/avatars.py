"""Default avatars until uploads exist: an identicon per account (a symmetric 5x5 pattern and a
colour, both derived from the account id), so each account's differs and never changes. Served as
PNG, as Mastodon serves its defaults: native apps (Tusky, Ivory, the official ones) show no SVG."""

from __future__ import annotations

import colorsys
import hashlib
import io
from functools import lru_cache

from PIL import Image

AVATAR_SIZE = 400
HEADER_SIZE = (1500, 500)
GRID = 7  # the 5x5 pattern with a one-cell margin
BACKGROUND = (0xF0, 0xF0, 0xF0)
HEADER_FILL = (0xE7, 0xE9, 0xEE)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


@lru_cache(maxsize=1)
def header_png() -> bytes:
    return _png(Image.new("RGB", HEADER_SIZE, HEADER_FILL))


@lru_cache(maxsize=1024)
def avatar_png(account_id: int) -> bytes:
    """Deterministic, so cached: the bytes depend on the id alone."""
    digest = hashlib.sha256(f"avatar:{account_id}".encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    # hsl(hue, 55%, 50%)
    r, g, b = colorsys.hls_to_rgb(hue / 360, 0.5, 0.55)
    colour = (round(r * 255), round(g * 255), round(b * 255))
    bits = int.from_bytes(digest[2:6], "big")
    grid = Image.new("RGB", (GRID, GRID), BACKGROUND)
    for row in range(5):
        for col in range(3):  # the left three columns, mirrored to the right
            if bits >> (row * 3 + col) & 1:
                grid.putpixel((col + 1, row + 1), colour)
                grid.putpixel((4 - col + 1, row + 1), colour)
    return _png(grid.resize((AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.NEAREST))
