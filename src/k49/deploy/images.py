"""Any image of one character brought to K49's form: 28x28 uint8, white ink on black.

`read_image` opens and checks a file or bytes (PNG, JPEG, BMP, TIFF, WebP, single-frame GIF);
`to_k49` converts: grey, inverted when the ink is dark, cropped to the ink, scaled so its longer
side fills the 28x28 box (as K49's characters do) and centred by its bounding box, in one
antialiased resampling placed to a fraction of a pixel. Every bad input is a
one-line `BadImage` naming the file, the problem and the fix.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from k49.errors import K49Error
from k49.io import read_user_file

#: The largest file or upload accepted.
MAX_BYTES = 5 * 1024 * 1024
#: The formats read (Pillow's names); GIF only as a single frame.
FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")
#: File suffixes taken as images when a folder is given.
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
SIZE = 28
#: The longer side of the ink's bounding box: K49's characters touch the 28x28 frame (on the
#: 100 real test images shipped, the box's longer side is 28 px for 99, 27 for one).
BOX = 28
#: Ink below this fraction of the ink's peak is ignored when cropping (faint noise, blur).
CROP_THRESHOLD = 0.1
#: An image whose ink rises less than this many grey levels above its background has none.
MIN_CONTRAST = 32
RESAMPLE = Image.Resampling.LANCZOS
#: Larger images are first reduced by an integer factor to at most this many pixels a side.
MAX_SIDE = 1024

_FIX_FORMAT = "give a PNG, JPEG, BMP, TIFF or WebP image"
# warnings.catch_warnings changes process-wide state: one opener at a time.
_OPEN_LOCK = threading.Lock()


class BadImage(K49Error):
    """An image that cannot be used; the message names the file, the problem and the fix."""


def read_image(source: str | os.PathLike | bytes, name: str | None = None) -> Image.Image:
    """The image in `source` (a path or the file's bytes), fully loaded and checked."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "the image"
        data = bytes(source)
    else:
        path = Path(source)
        label = name or str(path)
        data = _read_file(path, label)
    if len(data) > MAX_BYTES:
        raise BadImage(f"{label}: is {len(data) / 2**20:.1f} MB, more than the "
                       f"{MAX_BYTES // 2**20} MB accepted: give a smaller image")
    if not data:
        raise BadImage(f"{label}: is empty (0 bytes): {_FIX_FORMAT}")
    limit = Image.MAX_IMAGE_PIXELS
    bomb = (f"{label}: has more pixels than the {limit or 0:,} allowed (a possible "
            "decompression bomb): give a smaller image")
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage(bomb) from None
    except UnidentifiedImageError:
        if _header_size(data) is not None and 0 in _header_size(data):
            w, h = _header_size(data)
            raise BadImage(f"{label}: has 0 pixels ({w}x{h}): give an image of a "
                           "character") from None
        raise BadImage(f"{label}: is not an image in a supported format: {_FIX_FORMAT}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as e:
        raise _damaged(label, e) from None
    if image.width <= 0 or image.height <= 0:
        raise BadImage(f"{label}: has 0 pixels ({image.width}x{image.height}): give an image "
                       "of a character")
    if limit and image.width * image.height > limit:
        raise BadImage(bomb)
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise BadImage(f"{label}: has {frames} frames; give a single-frame image")
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
            MemoryError) as e:
        raise _damaged(label, e) from None
    return image


def to_k49(image: Image.Image | np.ndarray) -> np.ndarray:
    """The character in `image` in K49's form: (28, 28) uint8, white ink on black.

    Grey levels are kept (stretched linearly so the background is 0 and the ink's peak 255);
    dark ink on a light background is inverted, decided by the median of the outer ring of
    pixels; the ink (above CROP_THRESHOLD of its peak) is cropped, scaled with its aspect ratio
    kept so its longer side is BOX pixels, and centred by its bounding box.
    """
    grey = _grey(image)
    if grey.size == 0:
        raise BadImage("has 0 pixels: give an image of a character")
    ring = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(ring) > 127.5:
        grey = 255.0 - grey
        ring = 255.0 - ring
    background = float(np.median(ring))
    peak = float(grey.max())
    if peak - background < MIN_CONTRAST:
        raise BadImage("no ink found (the image is blank or uniform): give an image of one "
                       "character, dark on light or light on dark")
    ink = np.clip((grey - background) / (peak - background), 0.0, 1.0)
    return np.clip(np.rint(_fit(ink) * 255.0), 0, 255).astype(np.uint8)


def load_k49_image(source: str | os.PathLike | bytes, name: str | None = None) -> np.ndarray:
    """`to_k49(read_image(source, name))`, its errors naming the file."""
    image = read_image(source, name)
    try:
        return to_k49(image)
    except BadImage as e:
        label = name or ("the image" if isinstance(source, (bytes, bytearray, memoryview))
                         else str(source))
        raise BadImage(f"{label}: {e}") from None


def _fit(ink: np.ndarray) -> np.ndarray:
    """The SIZE x SIZE view of `ink` (floats in [0, 1]) whose centre is the centre of the ink's
    bounding box, its longer side scaled to BOX pixels: one antialiased resampling, placed to
    a fraction of a pixel."""
    mask = ink > CROP_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    half = max(bottom - top, right - left) / BOX * SIZE / 2  # half the view, in source pixels
    cy, cx = (top + bottom) / 2, (left + right) / 2
    y0, x0 = int(np.floor(cy - half)) - 1, int(np.floor(cx - half)) - 1
    side = int(np.ceil(2 * half)) + 3
    view = np.zeros((side, side), dtype=np.float32)
    sy, sx = max(y0, 0), max(x0, 0)
    ey, ex = min(y0 + side, ink.shape[0]), min(x0 + side, ink.shape[1])
    view[sy - y0:ey - y0, sx - x0:ex - x0] = ink[sy:ey, sx:ex]
    box = (cx - half - x0, cy - half - y0, cx + half - x0, cy + half - y0)
    return np.asarray(Image.fromarray(view, mode="F").resize((SIZE, SIZE), RESAMPLE, box=box))


def _read_file(path: Path, label: str) -> bytes:
    return read_user_file(path, limit=MAX_BYTES, name=label, error=BadImage)


def _damaged(label: str, error: BaseException) -> BadImage:
    reason = (" ".join(str(error).split()) or type(error).__name__)[:120]
    what = "truncated" if "truncated" in reason.lower() or isinstance(error, EOFError) \
        else "damaged"
    return BadImage(f"{label}: is {what} ({reason}): give the whole file, or save it again")


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF or BMP header, for the files Pillow refuses to open."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM" and struct.unpack("<I", data[14:18])[0] >= 40:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
    except struct.error:
        return None
    return None


def _grey(image: Image.Image | np.ndarray) -> np.ndarray:
    """Luminance as float32 (H, W) in [0, 255]; alpha composited onto the background."""
    if isinstance(image, np.ndarray):
        return _grey_array(image)
    factor = -(-max(image.size) // MAX_SIDE)
    if factor > 1:  # averaging blocks of pixels first keeps large photos cheap
        try:
            image = image.reduce(factor)
        except ValueError:  # a mode reduce does not take (e.g. 16-bit)
            pass
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _grey_array(np.asarray(image), mode=image.mode)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        return _composite(np.asarray(rgba.convert("L"), dtype=np.float32), alpha)
    return np.asarray(image.convert("L"), dtype=np.float32)


def _grey_array(array: np.ndarray, mode: str | None = None) -> np.ndarray:
    """Grey levels of a (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        alpha = None
        if a.shape[2] == 4:
            alpha = _levels(a[..., 3], mode) / 255.0
        values = _levels(a[..., :3], mode)
        lum = values[..., 0] if a.shape[2] == 1 else values @ np.float32([0.299, 0.587, 0.114])
        return _composite(lum.astype(np.float32), alpha) if alpha is not None else lum
    if a.ndim != 2:
        raise BadImage(f"is an array of shape {a.shape}: give (H, W) grey or (H, W, 3|4) "
                       "colour pixels")
    return _levels(a, mode)


def _levels(a: np.ndarray, mode: str | None) -> np.ndarray:
    """Values scaled to [0, 255]: 16-bit by 257, floats in [0, 1] by 255."""
    if a.dtype == bool:
        return a.astype(np.float32) * 255.0
    if (mode or "").startswith("I;16") or a.dtype == np.uint16:
        return a.astype(np.float32) / 257.0
    if np.issubdtype(a.dtype, np.integer):
        if a.dtype == np.uint8 or a.size == 0:
            return a.astype(np.float32)
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0 and hi <= 255 and mode != "I":
            return a.astype(np.float32)
        if lo >= 0 and hi <= 65535:  # 16-bit values, as Pillow's mode I from 16-bit PNGs
            return a.astype(np.float32) / 257.0
        return _stretch(a)
    a = a.astype(np.float32)
    if a.size and not np.isfinite(a).all():
        raise BadImage("has pixels that are not finite numbers: give a valid image")
    if a.size and a.min() >= 0 and a.max() <= 1:
        return a * 255.0
    if a.size and a.min() >= 0 and a.max() <= 255:
        return a
    return _stretch(a)


def _stretch(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    lo, hi = a.min(), a.max()
    return ((a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)).astype(np.float32)


def _composite(lum: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`lum` over a plain background: for a mostly transparent image (ink drawn on nothing), the
    opposite of the ink's shade; otherwise the opaque pixels' own median (their background)."""
    opaque = alpha > 0.5
    if alpha.mean() < 0.5:
        weight = float(alpha.sum())
        ink = float((lum * alpha).sum() / weight) if weight else 0.0
        background = 255.0 if ink < 127.5 else 0.0
    else:
        background = float(np.median(lum[opaque])) if opaque.any() else 0.0
    return (lum * alpha + background * (1.0 - alpha)).astype(np.float32)
