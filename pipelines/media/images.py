"""Uploaded images (avatars, video thumbnails): decoded, checked, re-encoded as JPEG.

Re-encoding means the bytes we serve are ones Pillow wrote, never the upload itself
(no polyglot files, no metadata such as GPS positions).
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageOps, UnidentifiedImageError

from cluster.errors import InvalidInput

AVATAR_SIZE = 256
THUMBNAIL_BOX = (1920, 1080)
MAX_IMAGE_BYTES = 5 * 1024 * 1024
# Far below Pillow's own bomb limit: no upload needs more than a phone photo.
MAX_IMAGE_PIXELS = 50_000_000
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

_NOT_AN_IMAGE = "is not an image vidray can read: upload a JPEG, PNG, WebP or GIF file"


def make_avatar(data: bytes) -> bytes:
    """A square `AVATAR_SIZE` JPEG made from the uploaded image, or `InvalidInput`."""
    return _reencode(
        data,
        field="avatar",
        fit=lambda image: ImageOps.fit(image, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS),
    )


def make_thumbnail(data: bytes) -> bytes:
    """A JPEG that fits in `THUMBNAIL_BOX` (shrunk, never enlarged), or `InvalidInput`."""

    def shrink(image: Image.Image) -> Image.Image:
        image.thumbnail(THUMBNAIL_BOX, Image.Resampling.LANCZOS)
        return image

    return _reencode(data, field="imageBase64", fit=shrink)


def _reencode(data: bytes, *, field: str, fit: Callable[[Image.Image], Image.Image]) -> bytes:
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(field, "is larger than 5 MiB: upload a smaller image")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            width, height = probe.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InvalidInput(field, "has too many pixels: upload a smaller image")
            probe.verify()  # checks the structure without decoding every pixel
        # verify() leaves the image unusable, so decode it again from the start.
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            image.draft("RGB", (THUMBNAIL_BOX[0], THUMBNAIL_BOX[1]))  # JPEG: decode downscaled
            upright = ImageOps.exif_transpose(image).convert("RGB")
            out = io.BytesIO()
            fit(upright).save(out, "JPEG", quality=85, optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(field, _NOT_AN_IMAGE) from None
