"""The image loader on real LFW photos and on every kind of bad input."""
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from facerec_core.errors import ImageError
from facerec_core.images import load_image, resize_to_fit

from tests.conftest import lfw_photo


@pytest.fixture()
def photo(lfw_dir):
    return lfw_photo(lfw_dir, "Colin_Powell", 1)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_loads_path_bytes_fileobj_and_array_alike(photo):
    from_path = load_image(photo)
    assert from_path.shape == (250, 250, 3) and from_path.dtype == np.uint8
    data = photo.read_bytes()
    np.testing.assert_array_equal(load_image(data), from_path)
    fh = io.BytesIO(data)
    np.testing.assert_array_equal(load_image(fh), from_path)
    assert fh.tell() == 0  # the caller's stream is rewound
    np.testing.assert_array_equal(load_image(from_path), from_path)
    np.testing.assert_array_equal(load_image(Image.open(photo)), from_path)


def test_exif_orientation_is_applied(photo):
    img = Image.open(photo)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    rotated = load_image(_encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert rotated.shape == (250, 250, 3)
    plain = load_image(_encode(img, "JPEG", quality=95))
    # the displayed image is the stored one turned clockwise
    np.testing.assert_allclose(rotated.astype(float), np.rot90(plain, k=-1).astype(float), atol=40)
    wide = img.resize((250, 120))
    assert load_image(_encode(wide, "JPEG", exif=exif.tobytes())).shape == (250, 120, 3)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "1"])
def test_modes_convert_to_rgb(photo, mode):
    img = Image.open(photo).convert(mode)
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    out = load_image(_encode(img, fmt))
    assert out.shape == (250, 250, 3) and out.dtype == np.uint8


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert (load_image(_encode(img, "PNG")) == 255).all()


def test_16_bit_grayscale_is_scaled():
    arr = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (32, 1))
    out = load_image(_encode(Image.fromarray(arr), "PNG"))
    assert out.shape == (32, 64, 3)
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255
    assert load_image(arr).max() == 255  # 16-bit arrays too


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP"])
def test_upload_formats(photo, fmt):
    assert load_image(_encode(Image.open(photo), fmt)).shape == (250, 250, 3)


def test_refuses_non_images(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture")
    with pytest.raises(ImageError, match="notes.jpg: not an image"):
        load_image(text)
    assert text.read_text() == "this is not a picture"  # nothing lost


def test_refuses_truncated_and_corrupt(photo):
    data = photo.read_bytes()
    with pytest.raises(ImageError, match="upload.jpg: corrupt or truncated"):
        load_image(data[: len(data) // 2], name="upload.jpg")
    corrupt = bytearray(data)
    corrupt[200:1200] = bytes(1000)
    with pytest.raises(ImageError):
        load_image(bytes(corrupt), name="x.jpg")


def test_refuses_empty_and_missing(tmp_path):
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="unsupported input"):
        load_image(12345)


def test_refuses_decompression_bombs():
    big = _encode(Image.new("RGB", (3000, 2000)), "PNG")
    with pytest.raises(ImageError, match="too large"):
        load_image(big, max_pixels=1_000_000)
    assert load_image(big).shape == (2000, 3000, 3)  # under the default limit
    # a header that claims a gigapixel image is refused before any decoding
    header = _encode(Image.new("L", (1, 1)), "PNG")
    ihdr = header.index(b"IHDR")
    body = b"IHDR" + (40000).to_bytes(4, "big") * 2 + header[ihdr + 12:ihdr + 17]
    forged = header[:ihdr] + body + zlib.crc32(body).to_bytes(4, "big") + header[ihdr + 21:]
    with pytest.raises(ImageError, match="too large"):
        load_image(forged)


def test_refuses_bad_arrays():
    with pytest.raises(ImageError):
        load_image(np.zeros((4, 4, 7), np.uint8))
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan))
    assert load_image(np.ones((4, 4, 3)) * 0.5).max() == 128


def test_resize_to_fit():
    img = np.zeros((1000, 2000, 3), np.uint8)
    small, scale = resize_to_fit(img, 500)
    assert small.shape == (250, 500, 3) and scale == 0.25
    same, one = resize_to_fit(img, 4000)
    assert same is img and one == 1.0
