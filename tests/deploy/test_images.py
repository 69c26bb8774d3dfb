"""Images brought to K49's form: the round trip of real K49 images, every format and mode that
works, and every bad input refused with one line naming the file."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from k49.deploy import images
from k49.deploy.images import MAX_BYTES, BadImage, load_k49_image, read_image, to_k49

#: Mean absolute pixel difference (0-255) of the round trip over the 100 real images, as
#: measured: 5.4 on average, 16.1 for the worst image. (Downscaling the 80x80 upscale straight
#: back to 28x28, with no cropping to find, gives 3.7: the floor of this round trip.)
ROUND_TRIP_MEAN, ROUND_TRIP_WORST = 6.5, 20.0


def as_document(image: np.ndarray, size: int = 80, pad: int = 8) -> Image.Image:
    """A K49 image as a user would have it: black ink on white, upscaled, with a margin."""
    big = Image.fromarray(255 - image).resize((size, size), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (size + 2 * pad, size + 2 * pad), 255)
    canvas.paste(big, (pad, pad))
    return canvas


def encode(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


@pytest.fixture(scope="module")
def documents(real_sample, tmp_path_factory):
    """The 100 real images saved as black-on-white 96x96 PNG files."""
    folder = tmp_path_factory.mktemp("documents")
    paths = []
    for i, image in enumerate(real_sample[0]):
        paths.append(folder / f"{i:03d}.png")
        as_document(image).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def round_tripped(documents):
    return np.stack([load_k49_image(p) for p in documents])


def test_round_trip_of_real_k49_images(real_sample, round_tripped):
    originals = real_sample[0]
    assert round_tripped.shape == originals.shape and round_tripped.dtype == np.uint8
    per_image = [mad(a, b) for a, b in zip(round_tripped, originals, strict=True)]
    print(f"round trip: mean absolute difference {np.mean(per_image):.2f}, "
          f"worst image {max(per_image):.2f}")
    assert np.mean(per_image) < ROUND_TRIP_MEAN
    assert max(per_image) < ROUND_TRIP_WORST


def test_k49_image_is_nearly_a_fixed_point(real_sample):
    """An image already in K49's form comes back almost unchanged (measured: 3.2)."""
    out = np.stack([to_k49(image) for image in real_sample[0]])
    assert mad(out, real_sample[0]) < 4


def test_position_scale_and_polarity_do_not_matter(real_sample):
    """A small white-on-black character off-centre on a wide canvas gives the same image as the
    black-on-white document (measured: 1.6 on average, 6.5 at worst over these 20)."""
    differences = []
    for image in real_sample[0][:20]:
        reference = to_k49(as_document(image))
        small = Image.fromarray(image).resize((40, 40), Image.Resampling.BICUBIC)
        canvas = Image.new("L", (300, 200), 0)
        canvas.paste(small, (230, 20))
        differences.append(mad(to_k49(canvas), reference))
        assert mad(to_k49(np.asarray(as_document(image))), reference) == 0  # array == image
    assert np.mean(differences) < 3 and max(differences) < 10


def test_large_image_is_reduced_first(real_sample):
    image = real_sample[0][11]
    big = as_document(image, size=2800, pad=100)  # 3000 px a side: reduced by 3 first
    assert mad(to_k49(big), to_k49(as_document(image))) < 3


def test_faint_background_noise_is_ignored(real_sample):
    """Noise of up to 15 grey levels on the paper (measured: 3.1 on average, 9.9 at worst)."""
    rng = np.random.default_rng(0)
    differences = []
    for image in real_sample[0][:20]:
        clean = np.asarray(as_document(image))
        noisy = np.clip(clean.astype(np.int32) - rng.integers(0, 16, clean.shape), 0, 255)
        differences.append(mad(to_k49(noisy.astype(np.uint8)), to_k49(clean)))
    assert np.mean(differences) < 5 and max(differences) < 12


def formats(document: Image.Image) -> dict[str, bytes]:
    """`document` in every format and mode that must work."""
    grey = np.asarray(document)
    ink = 255 - grey
    rgba = np.zeros((*grey.shape, 4), np.uint8)
    rgba[..., 3] = ink  # black ink drawn on a transparent canvas
    white_rgba = np.full((*grey.shape, 4), 255, np.uint8)
    white_rgba[..., 3] = ink  # white ink drawn on a transparent canvas
    return {
        "png16": encode(Image.fromarray(grey.astype(np.uint16) * 257)),
        "palette": encode(document.convert("P")),
        "rgba": encode(Image.fromarray(rgba, "RGBA")),
        "white-rgba": encode(Image.fromarray(white_rgba, "RGBA")),
        "la": encode(Image.fromarray(np.dstack([np.zeros_like(grey), ink]), "LA")),
        "rgb": encode(document.convert("RGB")),
        "jpeg": encode(document.convert("RGB"), "JPEG", quality=90),
        "bmp": encode(document, "BMP"),
        "tiff": encode(document, "TIFF"),
        "webp": encode(document, "WEBP", lossless=True),
        "gif": encode(document, "GIF"),
    }


@pytest.mark.parametrize("kind", ["png16", "palette", "rgba", "white-rgba", "la", "rgb", "jpeg",
                                  "bmp", "tiff", "webp", "gif"])
def test_formats_and_modes(real_sample, kind):
    document = as_document(real_sample[0][7])
    expected = load_k49_image(encode(document))
    out = load_k49_image(formats(document)[kind], f"x.{kind}")
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert mad(out, expected) < (2 if kind == "jpeg" else 0.5)  # measured: 0.11 and 0


def test_16_bit_png_equals_its_8_bit_version(real_sample, tmp_path):
    grey = np.asarray(as_document(real_sample[0][9]))
    Image.fromarray(grey).save(tmp_path / "8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "16.png")
    assert read_image(tmp_path / "16.png").mode.startswith("I")
    np.testing.assert_array_equal(load_k49_image(tmp_path / "16.png"),
                                  load_k49_image(tmp_path / "8.png"))


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_pixel_png() -> bytes:
    """A PNG whose header says 0x0 (Pillow will not write one)."""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def animated(fmt: str) -> bytes:
    frames = [Image.fromarray(np.full((20, 20), v, np.uint8)) for v in (0, 128, 255)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:])


def noise(fmt: str) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    return encode(Image.fromarray(pixels), fmt)


BAD = {
    "text.png": (lambda: b"this is not an image", "not an image"),
    "empty.png": (lambda: b"", "empty"),
    "cut.png": (lambda: noise("PNG")[:2000], "truncated"),
    "cut.jpg": (lambda: noise("JPEG")[:1000], "truncated"),
    "zero.png": (zero_pixel_png, "0 pixels"),
    "anim.gif": (lambda: animated("GIF"), "has 3 frames; give a single-frame image"),
    "anim.webp": (lambda: animated("WEBP"), "has 3 frames"),
    "anim.png": (lambda: animated("PNG"), "has 3 frames"),
    "white.png": (lambda: encode(Image.new("L", (40, 40), 255)), "no ink found"),
    "black.png": (lambda: encode(Image.new("L", (40, 40), 0)), "no ink found"),
    "grey.jpg": (lambda: encode(Image.new("RGB", (40, 40), (90, 90, 90)), "JPEG"),
                 "no ink found"),
    "faint.png": (lambda: encode(Image.fromarray(
        np.random.default_rng(1).integers(120, 140, (40, 40), dtype=np.uint8))), "no ink found"),
    "photo.svg": (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not an image"),
}


def assert_one_line(error: BadImage, *needles: str) -> None:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize("name", list(BAD))
def test_bad_inputs_name_the_file(name, tmp_path):
    make, problem = BAD[name]
    data = make()
    with pytest.raises(BadImage) as bytes_error:
        load_k49_image(data, name)
    assert_one_line(bytes_error.value, name, problem)
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(BadImage) as file_error:
        load_k49_image(path)
    assert_one_line(file_error.value, str(path), problem)


def test_decompression_bombs(monkeypatch):
    # Pillow warns past MAX_IMAGE_PIXELS and refuses past twice that; both are refused here.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    for side in (20, 40):  # 400 pixels: Pillow's warning; 1,600: its error
        with pytest.raises(BadImage) as error:
            read_image(encode(Image.new("L", (side, side))), "bomb.png")
        assert_one_line(error.value, "bomb.png", "decompression bomb", "smaller")
    assert read_image(encode(Image.new("L", (10, 10))), "ok.png").size == (10, 10)


def test_too_many_bytes(tmp_path):
    data = encode(Image.new("L", (8, 8))) + b"\0" * MAX_BYTES
    with pytest.raises(BadImage) as error:
        read_image(data, "huge.png")
    assert_one_line(error.value, "huge.png", "MB", "smaller")
    (tmp_path / "huge.png").write_bytes(data)
    with pytest.raises(BadImage, match="huge.png"):
        read_image(tmp_path / "huge.png")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(BadImage, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(BadImage, match="is a folder"):
        read_image(tmp_path)


def test_bad_arrays():
    with pytest.raises(BadImage, match="shape"):
        to_k49(np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(BadImage, match="no ink"):
        to_k49(np.zeros((28, 28), np.uint8))
    with pytest.raises(BadImage, match="0 pixels"):
        to_k49(np.zeros((0, 28), np.uint8))


def test_constants_are_k49s_form():
    assert images.SIZE == 28 and images.BOX <= images.SIZE
    assert MAX_BYTES == 5 * 1024 * 1024
