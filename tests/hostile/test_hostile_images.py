"""Hostile and awkward images (issue #14): legal images that used to cost minutes and gigabytes,
arrays the API accepted but could not handle, and misleading messages. Every hostile file is made
here, in ``tmp_path``; nothing is timed (bench/hostile_images.py measures time and memory).
"""
from __future__ import annotations

import io
import tomllib
import zlib

import numpy as np
import pytest
from PIL import Image

from facerec_core.errors import ImageError
from facerec_core.images import load_image
from facerec_core.recognizer import Recognizer
from facerec_core.settings import PROJECT_ROOT, Settings
from tests.conftest import lfw_photo


@pytest.fixture(scope="module")
def bare(base_settings, tmp_path_factory) -> Recognizer:
    """Detector and backbone with the default limits, no trained model and no gallery."""
    root = tmp_path_factory.mktemp("hostile")
    return Recognizer.load(base_settings.replace(artifacts_dir=root / "no-model", data_dir=root / "data"),
                           require_model=False)


def with_settings(rec: Recognizer, **changes) -> Recognizer:
    """The same networks under other settings."""
    return Recognizer(rec.detector, rec.backbone, settings=rec.settings.replace(**changes))


@pytest.fixture(scope="module")
def photo(lfw_dir) -> np.ndarray:
    return load_image(lfw_photo(lfw_dir, "Colin_Powell", 1))


@pytest.fixture()
def detector_inputs(monkeypatch) -> list[tuple[int, int]]:
    """The (height, width) of every image MTCNN's networks are run on. An image over the default
    detection bound stops the call at once, so old code fails fast instead of running for minutes."""
    import facerec_core.mtcnn as mtcnn

    seen: list[tuple[int, int]] = []
    real = mtcnn.detect_same_size

    def spy(images, *args, **kwargs):
        seen.extend(im.shape[:2] for im in images)
        if max(images[0].shape[:2]) > Settings().max_detect_side:
            raise AssertionError(f"MTCNN was given a {images[0].shape[1]}x{images[0].shape[0]} image")
        return real(images, *args, **kwargs)

    monkeypatch.setattr(mtcnn, "detect_same_size", spy)
    return seen


def forged_png(width: int, height: int) -> bytes:
    """A 1x1 gray PNG whose header claims ``width`` x ``height`` (no pixel data to match)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    header = buf.getvalue()
    ihdr = header.index(b"IHDR")
    body = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + header[ihdr + 12:ihdr + 17]
    return header[:ihdr] + body + zlib.crc32(body).to_bytes(4, "big") + header[ihdr + 21:]


def assert_same_faces(a, b) -> None:
    assert len(a) == len(b) >= 1
    for fa, fb in zip(a, b):
        np.testing.assert_allclose(fa.box, fb.box, atol=1e-4)
        np.testing.assert_allclose(fa.embedding, fb.embedding, atol=1e-6)


# --- 5. work and memory per image are bounded ---------------------------------------------------

def test_a_tiny_jpeg_declaring_36_megapixels_is_detected_on_a_bounded_copy(bare, tmp_path, detector_inputs):
    path = tmp_path / "tiny.jpg"
    Image.new("RGB", (6000, 6000), (128, 120, 110)).save(path, quality=5, optimize=True)
    assert path.stat().st_size < 250_000  # 36 MP in a few hundred kilobytes
    assert bare.recognize(path) == []
    assert detector_inputs and max(max(s) for s in detector_inputs) == bare.settings.max_detect_side


def test_faces_found_on_the_bounded_copy_are_in_full_image_pixels_and_embedded_from_it(bare, photo, detector_inputs):
    big = np.asarray(Image.fromarray(photo).resize((1000, 1000), Image.BICUBIC))
    rec = with_settings(bare, max_detect_side=500)
    faces = rec.recognize(big)
    assert detector_inputs == [(500, 500)]
    reference = [f for f in bare.detect(photo) if f.det_score > 0.99]
    assert len(faces) >= 1 and reference
    face, ref = faces[0], reference[0]
    # the box and landmarks are those of the 250 px photo, times 4 (within a pixel of the copy, times 2)
    np.testing.assert_allclose(face.box, np.asarray(ref.box) * 4, atol=0.03 * face.width)
    np.testing.assert_allclose(face.landmarks, ref.landmarks * 4, atol=0.03 * face.width)
    assert face.width > 300
    # the embedding is cut from the full image, not from the detection copy
    np.testing.assert_allclose(face.embedding, rec.backbone.embed(big, [face])[0], atol=1e-6)
    assert float(face.embedding @ bare.embed(photo, [ref])[0].embedding) > 0.9


def test_min_face_size_still_counts_full_image_pixels(bare, photo):
    big = np.asarray(Image.fromarray(photo).resize((1000, 1000), Image.BICUBIC))
    rec = with_settings(bare, max_detect_side=500)
    assert rec.detect(big, min_face_size=300)
    assert rec.detect(big, min_face_size=700) == []


def test_images_under_the_bound_are_detected_exactly_as_without_one(bare, photo):
    wide = np.concatenate([photo, photo[:, ::-1]], axis=1)
    for image in (photo, wide):
        bound = max(image.shape[:2])
        exact = bare.detector.detect(image, max_side=bound)
        assert [f.to_dict() for f in exact] == [f.to_dict() for f in bare.detector.detect(image, max_side=10 ** 6)]
    assert Settings().max_detect_side >= 1920  # Full HD photos and frames are not downscaled


def test_arrays_obey_the_pixel_limit(bare):
    strict = with_settings(bare, max_image_pixels=10_000)
    for array in (np.zeros((200, 200, 3), np.uint8), np.zeros((200, 200), np.float32)):
        for call in (strict.recognize, strict.read_image, lambda a: strict.verify(a, a)):
            with pytest.raises(ImageError, match=r"200x200 = 40,000 pixels, limit 10,000.*FACEREC_MAX_IMAGE_PIXELS"):
                call(array)


def test_a_300_mb_junk_file_is_refused_by_its_size(bare, tmp_path):
    junk = tmp_path / "junk.jpg"
    with open(junk, "wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: takes no disk
    for call in (load_image, bare.recognize):
        with pytest.raises(ImageError, match=r"junk.jpg: the file is too large \(300.0 MB, limit 25.0 MB\).*"
                                             r"FACEREC_MAX_IMAGE_BYTES"):
            call(junk)


def test_bytes_and_file_objects_are_held_to_the_byte_limit_without_reading_them_whole(bare, photo):
    data = io.BytesIO()
    Image.fromarray(photo).save(data, "PNG")
    data = data.getvalue()
    small = with_settings(bare, max_image_bytes=len(data) - 1)
    with pytest.raises(ImageError, match=rf"upload.png: the file is too large \({len(data):,} bytes, limit "
                                         rf"{len(data) - 1:,} bytes\)"):
        small.recognize(data, name="upload.png")
    assert with_settings(bare, max_image_bytes=len(data)).recognize(data)

    class Endless(io.RawIOBase):
        """A stream that never ends (a pipe from a broken producer), counting what it hands out."""
        handed_out = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.handed_out > 10 * len(data):
                raise AssertionError("the stream was read far past the byte limit")
            buffer[:] = bytes(len(buffer))
            self.handed_out += len(buffer)
            return len(buffer)

    stream = Endless()
    with pytest.raises(ImageError, match=r"the file is too large \(more than"):
        small.recognize(stream, name="pipe")
    assert stream.handed_out <= len(data)


def test_streamlit_upload_limit_agrees_with_the_byte_limit():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == Settings().max_image_bytes  # Streamlit's MB are MiB


# --- 6. arrays: convert what is convertible, refuse the rest ------------------------------------

@pytest.mark.parametrize("mode", ["RGBA", "LA", "L"])
def test_arrays_with_4_2_or_1_channels_are_recognized_as_the_same_picture_in_a_file(bare, photo, mode, tmp_path):
    img = Image.fromarray(photo).convert(mode)
    if "A" in mode:  # a transparent border, which files show over white
        alpha = np.zeros(photo.shape[:2], np.uint8)
        alpha[20:-20, 20:-20] = 255
        img.putalpha(Image.fromarray(alpha))
    array = np.asarray(img)
    if array.ndim == 2:
        array = array[..., None]  # (H, W, 1)
    path = tmp_path / "same.png"
    img.save(path)
    np.testing.assert_array_equal(load_image(array), load_image(path))
    assert_same_faces(bare.recognize(array), bare.recognize(path))


def test_gray_and_boolean_arrays_convert(bare):
    mask = np.zeros((40, 60), bool)
    mask[:, 30:] = True
    out = load_image(mask)
    assert out.shape == (40, 60, 3) and out[0, 0].tolist() == [0, 0, 0] and out[0, -1].tolist() == [255, 255, 255]
    gray = np.full((40, 60, 1), 0.5, np.float32)
    assert (load_image(gray) == 128).all()
    assert (load_image(np.full((40, 60, 3), 300, np.int64)) == 255).all()


@pytest.mark.parametrize("array, words", [
    (np.empty((64, 64, 3), object), r"dtype object.*np.asarray\(image, dtype=np.uint8\)"),
    (np.zeros((64, 64, 3), complex), r"dtype complex128.*np.abs"),
    (np.zeros((64, 64, 3), "U1"), r"dtype <U1"),
    (np.zeros((64, 64, 3), "datetime64[s]"), r"dtype datetime64\[s\]"),
    (np.zeros((3, 64, 64), np.uint8), r"shape \(3, 64, 64\).*channels first.*transpose\(1, 2, 0\)"),
    (np.zeros((64, 64, 5), np.uint8), r"shape \(64, 64, 5\).*\(H, W, 3\) RGB"),
    (np.zeros(64, np.uint8), r"shape \(64,\)"),
    (np.zeros((2, 64, 64, 3), np.uint8), r"shape \(2, 64, 64, 3\).*one image"),
    (np.zeros((0, 64, 3), np.uint8), r"no pixels"),
    (np.full((8, 8, 3), np.inf), r"NaN or infinite"),
])
def test_unusable_arrays_are_refused_naming_the_problem_and_the_fix(bare, array, words):
    with pytest.raises(ImageError, match=words):
        bare.recognize(array)
    with pytest.raises(ImageError, match=words):
        load_image(array)


# --- 8. messages that say what is wrong --------------------------------------------------------

def test_a_folder_is_called_a_folder(bare, tmp_path):
    for call in (load_image, bare.recognize):
        with pytest.raises(ImageError, match=r"is a folder, not an image file"):
            call(tmp_path)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")


@pytest.mark.parametrize("width, height", [(10_000, 10_000), (20_000, 20_000), (100_000, 100_000)])
def test_the_configured_pixel_limit_is_the_one_quoted(width, height):
    """Pillow spots these itself (over 89,478,485 pixels it warns, over twice that it refuses)."""
    with pytest.raises(ImageError, match=rf"too large \({width * height:,} pixels, limit 40,000,000\); resize it "
                                         r"or raise FACEREC_MAX_IMAGE_PIXELS") as caught:
        load_image(forged_png(width, height))
    assert "89478485" not in str(caught.value) and "178956970" not in str(caught.value)


def test_the_configured_pixel_limit_is_the_one_enforced_above_pillows_own():
    # 9,500 x 9,500 = 90,250,000 pixels: more than Pillow allows on its own, fewer than configured
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(forged_png(9_500, 9_500), max_pixels=100_000_000)


def _frames(photo: np.ndarray, n: int) -> list[Image.Image]:
    return [Image.fromarray(np.roll(photo, 7 * i, axis=1)) for i in range(n)]


@pytest.mark.parametrize("fmt, n", [("GIF", 12), ("TIFF", 3)])
def test_only_the_first_frame_is_used_and_each_face_says_so(bare, photo, tmp_path, fmt, n):
    path = tmp_path / f"many.{fmt.lower()}"
    first, *rest = _frames(photo, n)
    first.save(path, fmt, save_all=True, append_images=rest)
    faces = bare.recognize(path)
    assert faces and all(f.note == f"the image has {n} frames; only the first was used" for f in faces)
    from facerec_core.images import open_image

    loaded = open_image(path)
    assert loaded.frames == n
    np.testing.assert_array_equal(loaded.pixels, load_image(first if fmt == "TIFF" else Image.open(path)))
    single = tmp_path / f"one.{fmt.lower()}"
    first.save(single, fmt)
    assert open_image(single).frames == 1 and all(f.note is None for f in bare.recognize(single)
                                                   if f.det_score > 0.99 and f.size >= 40)


def test_a_frames_note_follows_a_quality_note(bare, photo, tmp_path):
    path = tmp_path / "small.gif"
    small = [im.resize((80, 80)) for im in _frames(photo, 2)]
    small[0].save(path, save_all=True, append_images=small[1:])
    faces = bare.recognize(path, min_face_size=12)
    assert faces and all(f.note.startswith("face too small to identify") and
                         f.note.endswith("; the image has 2 frames; only the first was used") for f in faces)


# --- many faces: detection memory and identification work are bounded ---------------------------

def _mosaic(lfw_dir, people: list[str]) -> np.ndarray:
    """The people's first LFW photos side by side: one face each."""
    return np.concatenate([load_image(lfw_photo(lfw_dir, name, 1)) for name in people], axis=1)


def test_mtcnn_refines_candidates_in_chunks_with_the_same_faces(bare, lfw_dir, monkeypatch):
    import facerec_core.mtcnn as mtcnn

    image = _mosaic(lfw_dir, ["Colin_Powell", "Tony_Blair", "George_W_Bush"])
    whole = bare.detector.detect(image)
    calls: list[int] = []
    real_normalize = mtcnn._normalize

    def counting(x):
        calls.append(len(x))
        return real_normalize(x)

    monkeypatch.setattr(mtcnn, "STAGE_CHUNK", 5)
    monkeypatch.setattr(mtcnn, "_normalize", counting)
    chunked = bare.detector.detect(image)
    # pyramid levels are one image a call; RNet and ONet crops came at most 5 a call, though more there were
    assert max(calls) <= 5 and sum(c for c in calls if c > 1) > 5 and len(whole) >= 3
    assert len(chunked) == len(whole)
    for a, b in zip(chunked, whole):
        np.testing.assert_allclose(a.box, b.box, atol=1e-3)
        assert abs(a.det_score - b.det_score) < 1e-5


def test_only_the_largest_max_faces_are_identified_and_the_rest_say_why(bare, lfw_dir):
    image = _mosaic(lfw_dir, ["Colin_Powell", "Tony_Blair", "George_W_Bush"])
    every = bare.recognize(image)
    rec = with_settings(bare, max_faces=2)
    faces = rec.recognize(image)
    assert len(faces) == len(every) >= 3
    assert all(f.embedding is not None for f in faces[:2])
    assert all(f.embedding is None for f in faces[2:])
    assert all(f"has {len(faces)} faces and only the 2 largest are identified (FACEREC_MAX_FACES)" in f.note
               for f in faces[2:])
    for a, b in zip(faces[:2], every[:2]):
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-6)


def test_frames_are_counted_only_up_to_a_limit(tmp_path):
    from facerec_core.images import MAX_COUNTED_FRAMES, open_image

    path = tmp_path / "long.gif"
    frames = [Image.new("L", (2, 2), i % 256) for i in range(MAX_COUNTED_FRAMES + 50)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    loaded = open_image(path)
    assert loaded.frames == MAX_COUNTED_FRAMES + 1
    assert loaded.note == f"the image has more than {MAX_COUNTED_FRAMES} frames; only the first was used"
    assert (loaded.pixels == 0).all()
