"""Avatar images: anything uploaded is decoded, checked, cropped and re-encoded as JPEG.

Re-encoding means the bytes we serve are ones Pillow wrote, never the upload itself
(no polyglot files, no metadata such as GPS positions).
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from cluster.errors import InvalidInput

AVATAR_SIZE = 256
MAX_AVATAR_BYTES = 5 * 1024 * 1024
# Far below Pillow's own bomb limit: an avatar never needs more than a phone photo.
MAX_AVATAR_PIXELS = 50_000_000
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

_NOT_AN_IMAGE = "is not an image vidray can read: upload a JPEG, PNG, WebP or GIF file"


def make_avatar(data: bytes) -> bytes:
    """A square `AVATAR_SIZE` JPEG made from the uploaded image, or `InvalidInput`."""
    if len(data) > MAX_AVATAR_BYTES:
        raise InvalidInput("avatar", "is larger than 5 MiB: upload a smaller image")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            width, height = probe.size
            if width * height > MAX_AVATAR_PIXELS:
                raise InvalidInput("avatar", "has too many pixels: upload a smaller image")
            probe.verify()  # checks the structure without decoding every pixel
        # verify() leaves the image unusable, so decode it again from the start.
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            image.draft("RGB", (AVATAR_SIZE * 2, AVATAR_SIZE * 2))  # JPEG: decode downscaled
            upright = ImageOps.exif_transpose(image).convert("RGB")
            square = ImageOps.fit(upright, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            square.save(out, "JPEG", quality=85, optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput("avatar", _NOT_AN_IMAGE) from None
