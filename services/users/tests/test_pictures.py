"""Avatar and header uploads: any of PNG, JPEG, GIF and WebP (recognised by content), cropped to
fill Mastodon's sizes, metadata stripped, stored content-addressed (a local folder, or an
S3-compatible bucket), served with year-long cache headers, shown in every Account and carried in
`user.updated`; anything else is a 422 in Mastodon's shape and changes nothing."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image

from users.media.images import MAX_IMAGE_BYTES

ERR = "ERR_INVALID"
NOT_AN_IMAGE = {"error": ERR, "description": "must be a PNG, JPEG, GIF or WebP image"}


def picture(fmt: str, size: tuple[int, int] = (800, 600), *, exif: bool = False, frames: int = 1) -> bytes:
    out = io.BytesIO()
    images = [Image.new("RGB", size, (40 * i % 255, 120, 200)) for i in range(frames)]
    options: dict = {}
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "SecretCam"  # Make
        tags[0x0112] = 6  # Orientation: rotate 90 degrees
        options["exif"] = tags.tobytes()
    if frames > 1:
        options.update(save_all=True, append_images=images[1:], duration=80, loop=0)
    images[0].save(out, format=fmt, **options)
    return out.getvalue()


def upload(users, account, **files: tuple[str, bytes, str]):
    return users.as_(account.token).patch(
        "/api/v1/accounts/update_credentials", files=files, data={"display_name": "Pictured"}
    )


def fetch(users, url: str) -> httpx.Response:
    path = url.split("://", 1)[1].split("/", 1)[1]
    return users.client.get("/" + path)


@pytest.mark.parametrize(
    ("fmt", "media_type", "extension"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("GIF", "image/gif", "gif"),
     ("WEBP", "image/webp", "webp")],
)  # fmt: skip
def test_an_avatar_upload_is_cropped_stored_and_served(users, fmt, media_type, extension):
    alice = users.register("alice")
    # The declared name and type lie: the content decides.
    r = upload(users, alice, avatar=("avatar.txt", picture(fmt, (900, 500)), "text/plain"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["display_name"] == "Pictured"
    assert body["avatar"].startswith("http://127.0.0.1:8000/system/media/accounts/avatars/")
    assert body["avatar"].endswith("." + extension) and body["avatar_static"] == body["avatar"]
    served = fetch(users, body["avatar"])
    assert served.status_code == 200 and served.headers["content-type"] == media_type
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(served.content)).size == (400, 400)
    # Every Account shows it, and the snapshot event carries it (a new version).
    assert users.as_(alice.token).get(f"/api/v1/accounts/{alice.id}").json()["avatar"] == body["avatar"]
    updated = users.events("user.updated")[-1].data
    assert updated["avatar"] == updated["avatar_static"] == body["avatar"]


def test_a_header_is_cropped_to_1500_by_500_and_exif_is_gone(users):
    alice = users.register("alice")
    r = upload(users, alice, header=("h.jpg", picture("JPEG", (3000, 2000), exif=True), "image/jpeg"))
    assert r.status_code == 200, r.text
    header = fetch(users, r.json()["header"])
    image = Image.open(io.BytesIO(header.content))
    assert image.size == (1500, 500)
    assert not image.getexif() and b"SecretCam" not in header.content
    assert r.json()["header_static"] == r.json()["header"]


def test_an_animated_gif_keeps_moving_and_gets_a_still(users):
    alice = users.register("alice")
    r = upload(users, alice, avatar=("a.gif", picture("GIF", (300, 300), frames=3), "image/gif"))
    assert r.status_code == 200, r.text
    animated = Image.open(io.BytesIO(fetch(users, r.json()["avatar"]).content))
    still = Image.open(io.BytesIO(fetch(users, r.json()["avatar_static"]).content))
    assert animated.format == "GIF" and animated.n_frames == 3 and animated.size == (400, 400)
    assert still.format == "PNG" and still.size == (400, 400)


def test_what_is_not_an_acceptable_image_is_a_422_and_changes_nothing(users):
    alice = users.register("alice")
    before = users.as_(alice.token).get("/api/v1/accounts/verify_credentials").json()
    bmp = io.BytesIO()
    Image.new("RGB", (10, 10)).save(bmp, format="BMP")
    cases = [
        ("avatar", b"GIF89a but not really", NOT_AN_IMAGE),
        ("avatar", bmp.getvalue(), NOT_AN_IMAGE),
        ("header", picture("PNG")[:200], {"error": ERR, "description": "could not be read as an image"}),
        ("avatar", b"\x89PNG" + b"0" * MAX_IMAGE_BYTES, {"error": ERR, "description": "must be less than 8 MB"}),  # noqa: E501
    ]  # fmt: skip
    for field, data, problem in cases:
        r = upload(users, alice, **{field: ("x.png", data, "image/png")})
        assert r.status_code == 422, r.text
        assert r.json()["details"] == {field: [problem]}
        assert r.json()["error"].startswith("Validation failed: " + field.capitalize())
    after = users.as_(alice.token).get("/api/v1/accounts/verify_credentials").json()
    assert after == before  # not even the display name sent along changed


def test_a_decompression_bomb_is_refused_before_it_is_decoded(users):
    alice = users.register("alice")
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, format="PNG")  # ~60 KB, 400 megapixels
    r = upload(users, alice, avatar=("bomb.png", bomb.getvalue(), "image/png"))
    assert r.status_code == 422 and "pixels" in r.json()["details"]["avatar"][0]["description"]


def test_deleting_the_avatar_and_header_brings_back_the_defaults(users):
    alice = users.register("alice")
    upload(
        users,
        alice,
        avatar=("a.png", picture("PNG"), "image/png"),
        header=("h.png", picture("PNG"), "image/png"),
    )
    me = users.as_(alice.token)
    avatar = me.delete("/api/v1/profile/avatar")
    assert (
        avatar.status_code == 200
        and avatar.json()["avatar"] == f"http://127.0.0.1:8000/avatars/{alice.id}.png"
    )
    header = me.delete("/api/v1/profile/header")
    assert header.json()["header"] == "http://127.0.0.1:8000/avatars/header.png"
    assert users.events("user.updated", 3)[-1].data["header"] == "http://127.0.0.1:8000/avatars/header.png"


def test_only_stored_keys_are_served(users):
    for path in (
        "/system/media/../../etc/passwd",
        "/system/media/accounts/avatars/abc.png",
        "/system/media/x",
    ):
        assert users.client.get(path).status_code == 404


# -- the S3-compatible backend, against a real local S3 server (moto's) ---------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    pytest.importorskip("moto", reason="moto[server] (the local S3-compatible server) is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.skip("the local S3 server (moto) did not start")
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(10)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_pictures_go_to_an_s3_bucket_when_configured(start_service, s3_server):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    s3.create_bucket(Bucket="media")
    settings = {
        "media_storage": "s3", "s3_bucket": "media", "s3_endpoint_url": s3_server, "s3_region": "us-east-1",
        "s3_access_key_id": "test", "s3_secret_access_key": "test",
    }  # fmt: skip
    with start_service(**settings) as users:
        alice = users.register("alice")
        r = upload(users, alice, avatar=("a.webp", picture("WEBP"), "image/webp"))
        assert r.status_code == 200, r.text
        url = r.json()["avatar"]
        assert url.startswith(f"{s3_server}/media/accounts/avatars/") and url.endswith(".webp")
        stored = httpx.get(url)
        assert stored.status_code == 200
        assert stored.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert Image.open(io.BytesIO(stored.content)).size == (400, 400)
        assert users.client.get("/system/media/" + url.split("/media/", 1)[1]).status_code == 404
