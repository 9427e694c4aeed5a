"""Issue 8: an avatar upload works. Mastodon.py's `account_update_credentials(avatar=...)` changes
the avatar every Account shows, the author's statuses included once the event has reached the
posts service; the picture is served (cropped to 400x400) with year-long cache headers."""

from __future__ import annotations

import io

import httpx
from mastodon import Mastodon
from PIL import Image

from tests.e2e.test_mastodon_accounts import SCOPES, _client, _register
from tests.e2e.test_mastodon_statuses import eventually


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(out, format="PNG")
    return out.getvalue()


def test_an_uploaded_avatar_shows_everywhere(microblog):
    creds = Mastodon.create_app("e2e-avatar", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                                api_base_url=microblog.url)  # fmt: skip
    alice, _ = _register(microblog, creds, "avatar")
    before = alice.status_post("Before the new picture")
    default = before.account.avatar

    me = alice.account_update_credentials(avatar=_png((640, 480)), avatar_mime_type="image/png",
                                          header=_png((2000, 900)), header_mime_type="image/png")  # fmt: skip
    assert me.avatar != default and "/system/media/accounts/avatars/" in me.avatar
    served = httpx.get(me.avatar)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(served.content)).size == (400, 400)
    assert Image.open(io.BytesIO(httpx.get(me.header).content)).size == (1500, 500)

    anonymous = _client(microblog, creds)
    assert anonymous.account(me.id).avatar == me.avatar
    # The posts service learns of it through `user.updated`: its statuses show it then.
    eventually(lambda: anonymous.status(before.id).account.avatar, lambda avatar: avatar == me.avatar)
    after = alice.status_post("After the new picture")
    assert after.account.avatar == me.avatar and after.account.header == me.header
    assert [s.account.avatar for s in anonymous.account_statuses(me.id)] == [me.avatar, me.avatar]
