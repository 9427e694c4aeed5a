"""Default avatars until uploads exist: an identicon per account (a symmetric 5x5 pattern and a
colour, both derived from the account id), so each account's differs and never changes."""

from __future__ import annotations

import hashlib

HEADER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1500 500" width="1500" height="500">'
    '<rect width="1500" height="500" fill="#e7e9ee"/></svg>'
)


def avatar_svg(account_id: int) -> str:
    digest = hashlib.sha256(f"avatar:{account_id}".encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    colour = f"hsl({hue},55%,50%)"
    bits = int.from_bytes(digest[2:6], "big")
    cells = []
    for row in range(5):
        for col in range(3):  # the left three columns, mirrored to the right
            if bits >> (row * 3 + col) & 1:
                cells.append((col, row))
                if col < 2:
                    cells.append((4 - col, row))
    rects = "".join(f'<rect x="{x + 1}" y="{y + 1}" width="1" height="1"/>' for x, y in cells)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 7 7" width="400" height="400" '
        'shape-rendering="crispEdges"><rect width="7" height="7" fill="#f0f0f0"/>'
        f'<g fill="{colour}">{rects}</g></svg>'
    )
