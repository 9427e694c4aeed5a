"""Avatar and header uploads, processed as Mastodon does (`Account::Avatar`, `Account::Header`):
PNG, JPEG, GIF or WebP (recognised by their content, never by their name or declared type), at
most 8 MB (Mastodon 4.3's limit), cropped to fill 400x400 (avatar) or 1500x500 (header) around the
centre (Paperclip's `#` geometry, which also enlarges smaller pictures), re-encoded, so EXIF and
every other piece of metadata is gone (a JPEG is first turned upright by its EXIF orientation). An
animated GIF or WebP stays animated; its `static` is the first frame as PNG, as Mastodon's
`avatar_static`/`header_static`.

A decompression bomb (a few KB that decode to gigapixels) is refused from its header, before any
pixel is decoded: at most `MAX_PIXELS` per frame and `MAX_ANIMATION_PIXELS` over all frames."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

MAX_IMAGE_BYTES = 8 * 1024 * 1024
# Mastodon's image matrix limit (8K UHD).
MAX_PIXELS = 7680 * 4320
MAX_ANIMATION_PIXELS = 400 * MAX_PIXELS // 10
TOO_MANY_PIXELS = f"has too many pixels (at most {MAX_PIXELS:,} per frame)"
AVATAR_SIZE = (400, 400)
HEADER_SIZE = (1500, 500)
# Pillow's format name -> (media type, file extension).
FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "PNG": {"optimize": True},
    "JPEG": {"quality": 90, "optimize": True},
    "GIF": {},
    "WEBP": {"quality": 90},
}


class ImageRefused(ValueError):
    """`description` reads after the field's name: "Avatar must be a PNG, JPEG, GIF or WebP image"."""

    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class Picture:
    data: bytes
    content_type: str
    extension: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ProcessedImage:
    picture: Picture
    # The still version (the first frame of an animation); the picture itself otherwise.
    static: Picture


def _encode(frames: list[Image.Image], fmt: str, durations: list[int] | None = None) -> Picture:
    out = io.BytesIO()
    first = frames[0]
    if fmt == "JPEG" and first.mode not in ("RGB", "L"):
        first = first.convert("RGB")
    options = dict(_SAVE_OPTIONS[fmt])
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], loop=0, duration=durations or 100)
    first.save(out, format=fmt, **options)  # no exif=, icc_profile= or pnginfo=: nothing carried over
    media_type, extension = FORMATS[fmt]
    return Picture(out.getvalue(), media_type, extension)


def _fit(frame: Image.Image, size: tuple[int, int]) -> Image.Image:
    if frame.mode not in ("RGB", "RGBA", "L", "LA"):
        frame = frame.convert("RGBA")
    return ImageOps.fit(frame, size, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def process(raw: bytes, size: tuple[int, int]) -> ProcessedImage:
    if len(raw) > MAX_IMAGE_BYTES:
        raise ImageRefused(f"must be less than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw))
            fmt = image.format or ""
            if fmt not in FORMATS:
                raise ImageRefused("must be a PNG, JPEG, GIF or WebP image")
            width, height = image.size
            frames_count = getattr(image, "n_frames", 1)
            if width * height > MAX_PIXELS or width * height * frames_count > MAX_ANIMATION_PIXELS:
                raise ImageRefused(TOO_MANY_PIXELS)
            if frames_count > 1 and fmt in ("GIF", "WEBP"):
                frames, durations = [], []
                for frame in ImageSequence.Iterator(image):
                    durations.append(int(frame.info.get("duration", 100)))
                    frames.append(_fit(frame.convert("RGBA"), size))
                picture = _encode(frames, fmt, durations)
                return ProcessedImage(picture, _encode([frames[0]], "PNG"))
            upright = ImageOps.exif_transpose(image) or image
            picture = _encode([_fit(upright, size)], fmt)
            return ProcessedImage(picture, picture)
        except ImageRefused:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            # Pillow's own guard, at open: far beyond MAX_PIXELS.
            raise ImageRefused(TOO_MANY_PIXELS) from None
        except UnidentifiedImageError:
            raise ImageRefused("must be a PNG, JPEG, GIF or WebP image") from None
        except (OSError, ValueError, SyntaxError, EOFError):  # truncated or corrupt data
            raise ImageRefused("could not be read as an image") from None
