"""Hostile input against the gallery (issue #14): crafted exports, junk thumbnails, Markdown in
names, look-alike names, exports to impossible places, a data folder that is a file.

Every test here failed on the code before the fix (see the issue); each group is one defect. New
names of the fixed code are reached through their modules inside the tests, so that on the old code
each test fails by itself, for its own reason.
"""
from __future__ import annotations

import base64
import errno
import io
import json
import logging
import os
import re
import sqlite3
import stat
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dashboard.plain import WORD_JOINER
from facerec_core.faces import UNKNOWN
from facerec_core.gallery import (GalleryError, GallerySource, GalleryStore, NewSample, export_file, gallery_path,
                                  import_data, import_file)
from facerec_core.gallery import face_thumbnail, schema, transfer
from facerec_core.images import load_image
from facerec_core.recognizer import Recognizer
from tests.app.test_gallery_page import gallery_env, no_exception, open_gallery  # noqa: F401 (a fixture)
from tests.conftest import lfw_photo
from tests.gallery.conftest import rows, unit_vectors

DIM = 128  # facenet's embedding size (spec_for("facenet").dimension)
CREATED = "2024-01-01T12:00:00+00:00"


# ---- helpers ----------------------------------------------------------------------------------
def image_bytes(side: int = 96, fmt: str = "JPEG", height: int | None = None, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (side, height or side), 128).save(buffer, format=fmt)
    return buffer.getvalue()


def noisy_jpeg(seed: int) -> bytes:
    """The worst case of an enrollment thumbnail (96×96, quality 85): pure noise compresses least."""
    pixels = np.random.default_rng(seed).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def vector_b64(vec: np.ndarray) -> str:
    return b64(np.asarray(vec, dtype="<f4").tobytes())


def sample_doc(vec: np.ndarray | None = None, seed: int = 0, **fields) -> dict:
    vec = unit_vectors(1, DIM, seed)[0] if vec is None else vec
    return {"embedding": vector_b64(vec), "det_score": 0.99, "source": "a.jpg", "content_hash": None,
            "thumbnail": b64(image_bytes()), "created": CREATED, **fields}


def person_doc(name: str, samples: list, **fields) -> dict:
    return {"name": name, "notes": "", "created": CREATED, "updated": CREATED, "samples": samples, **fields}


def export_doc(people: list, **fields) -> dict:
    return {"format": "facerec-gallery", "format_version": 1, "backbone": "facenet", "embedding_size": DIM,
            "exported": CREATED, "people": people, **fields}


def assert_refused(store: GalleryStore, data, match: str | None = None) -> GalleryError:
    """``data`` is refused with a GalleryError (never another exception) and nothing changes."""
    generation, before = store.generation(), store.people()
    with pytest.raises(GalleryError, match=match) as info:
        import_data(store, data, "facenet")
    assert store.generation() == generation and store.people() == before
    assert "Traceback" not in str(info.value)
    return info.value


def insert_raw_sample(path: Path, person_id: int, vec: np.ndarray, *, backbone: str = "facenet",
                      thumbnail: bytes | None = None) -> int:
    """A sample written behind the store's back (an older facerec, a hand-edited file)."""
    blob = np.asarray(vec, dtype="<f4").tobytes()
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(
                "INSERT INTO samples(person_id, backbone, dim, embedding, det_score, source, content_hash, thumbnail, "
                "created) VALUES (?, ?, ?, ?, 0.99, 'raw', NULL, ?, ?)",
                (person_id, backbone, len(blob) // 4, blob, thumbnail, CREATED)).lastrowid
    finally:
        conn.close()


def set_raw_thumbnail(path: Path, sample_id: int, data: bytes) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("UPDATE samples SET thumbnail = ? WHERE id = ?", (data, sample_id))
    finally:
        conn.close()


@pytest.fixture()
def store(tmp_path):
    with GalleryStore(tmp_path / "g.sqlite3") as s:
        yield s


# =================================================================================================
# 1. A crafted export poisons recognition
# =================================================================================================
@pytest.mark.parametrize("size_field,dim", [(64, 64), (None, 64), ("missing", 64), (64, DIM), ("128", DIM),
                                            (True, DIM), (DIM, 129), (DIM, 0)],
                         ids=["64-says-64", "64-says-null", "64-no-size", "128-says-64", "size-is-text",
                              "size-is-bool", "129-values", "empty"])
def test_export_of_another_dimension_is_refused_whole(store, size_field, dim):
    """A file whose vectors are not the backbone's size is refused whole, whatever it claims."""
    def person(name: str, size: int, seed: int) -> dict:
        return person_doc(name, [sample_doc(unit_vectors(1, size, seed)[0] if size else np.zeros(0), seed=seed)])

    # what the file claims is consistent with its vectors (else even the old code refused it),
    # and a good person comes first where the claim allows one
    good = person("Good Person", DIM, 1) if size_field in (None, "missing", DIM) else person("Also Poison", dim, 1)
    doc = export_doc([good, person("Poison", dim, 2)])
    if size_field == "missing":
        del doc["embedding_size"]
    else:
        doc["embedding_size"] = size_field
    error = assert_refused(store, json.dumps(doc))
    assert "nothing was imported" in str(error)
    assert store.people() == []  # the good person of the same file is not imported either


@pytest.mark.parametrize("values", ["nan", "inf", "double", "zero", "tiny"])
def test_non_finite_or_non_unit_vectors_are_refused(store, values):
    vec = unit_vectors(1, DIM, 3)[0].copy()
    if values == "nan":
        vec[5] = np.nan
    elif values == "inf":
        vec[5] = np.inf
    elif values == "double":
        vec *= 2
    elif values == "zero":
        vec[:] = 0
    else:
        vec *= 1e-30
    assert_refused(store, json.dumps(export_doc([person_doc("Ada", [sample_doc(vec)])])), "nothing was imported")


def test_a_poisoned_store_still_recognizes_everyone(recognizer, lfw_dir, tmp_path, caplog):
    """Rows a crafted import (or an older facerec) left behind are skipped by search, logged once
    without their values, and reported by check(); everyone else is still named."""
    path = tmp_path / "g.sqlite3"
    store = GalleryStore(path)
    photos = [lfw_photo(lfw_dir, "Jacques_Chirac", i) for i in (1, 2, 3)]
    embeddings = [max(recognizer.embed(img, recognizer.detect(img)), key=lambda f: f.size).embedding
                  for img in (recognizer.read_image(p) for p in photos)]
    chirac, _ = store.add_samples("Jacques Chirac", [NewSample(e, "facenet", 0.99, f"c{i}.jpg")
                                                     for i, e in enumerate(embeddings)])
    poison = store.create_person("Poison")
    marker = np.full(DIM, 0.4242, np.float32)
    bad = {insert_raw_sample(path, poison.id, unit_vectors(1, 64, 4)[0]),      # wrong size
           insert_raw_sample(path, poison.id, np.full(DIM, np.nan, np.float32)),  # not finite
           insert_raw_sample(path, chirac.id, marker)}                       # not unit length
    rec = Recognizer(recognizer.detector, recognizer.backbone, gallery=GallerySource(store, "facenet"))
    probe = lfw_photo(lfw_dir, "Jacques_Chirac", 4)
    with caplog.at_level(logging.DEBUG, logger="facerec_core"):
        face = max(rec.recognize(probe), key=lambda f: f.size)
        assert face.identity == "Jacques Chirac"
        store.create_person("Someone Else")  # the store changes: the matrix is reloaded
        assert max(rec.recognize(probe), key=lambda f: f.size).identity == "Jacques Chirac"
    gallery_log = [r.getMessage() for r in caplog.records if r.name.startswith("facerec_core.gallery")]
    assert len([m for m in gallery_log if "skipped" in m]) == 1, gallery_log
    text = "\n".join(gallery_log)
    assert "0.4242" not in text and "nan" not in text.lower() and b64(marker.tobytes())[:16] not in text
    problems = "\n".join(store.check())
    assert all(str(i) in problems for i in bad), problems
    assert store.matrix("facenet").X.shape == (3, DIM)
    # an export of this store leaves the bad rows out, so it imports cleanly elsewhere
    with GalleryStore(tmp_path / "other.sqlite3") as other:
        report = import_file(other, export_file(store, tmp_path / "out.json", "facenet"), "facenet")
        assert report.samples_added == 3
    store.close()


def test_a_store_holding_only_wrong_size_vectors_does_not_crash_recognition(recognizer, lfw_dir, tmp_path):
    path = tmp_path / "g.sqlite3"
    store = GalleryStore(path)
    person = store.create_person("Poison")
    for seed in range(3):
        insert_raw_sample(path, person.id, unit_vectors(1, 64, seed)[0])
    source = GallerySource(store, "facenet")
    rec = Recognizer(recognizer.detector, recognizer.backbone, gallery=source)
    faces = rec.recognize(lfw_photo(lfw_dir, "Jacques_Chirac", 4))  # ValueError before the fix
    assert faces and all(f.identity in (None, UNKNOWN) for f in faces)
    assert source.search(unit_vectors(2, DIM, 9)) == [] and len(source) == 0
    assert any("64" in p for p in store.check())
    store.close()


DEEP = b"[" * 200_000 + b"]" * 200_000
MALFORMED = {
    "people-is-a-number": export_doc(5),
    "people-is-text": export_doc("everyone"),
    "people-is-an-object": export_doc({"name": "Ada"}),
    "people-missing": {k: v for k, v in export_doc([]).items() if k != "people"},
    "person-is-a-number": export_doc([5]),
    "person-is-null": export_doc([None]),
    "person-is-a-list": export_doc([[]]),
    "person-is-text": export_doc(["Ada"]),
    "name-is-a-number": export_doc([person_doc(5, [])]),
    "name-missing": export_doc([{"samples": []}]),
    "notes-is-a-list": export_doc([person_doc("Ada", [], notes=["x"])]),
    "samples-is-a-number": export_doc([person_doc("Ada", 5)]),
    "sample-is-a-number": export_doc([person_doc("Ada", [5])]),
    "sample-is-text": export_doc([person_doc("Ada", ["x"])]),
    "embedding-is-a-number": export_doc([person_doc("Ada", [sample_doc(embedding=5)])]),
    "embedding-not-base64": export_doc([person_doc("Ada", [sample_doc(embedding="!!not base64!!")])]),
    "embedding-odd-bytes": export_doc([person_doc("Ada", [sample_doc(embedding=b64(b"\x00" * 511))])]),
    "det-score-is-text": export_doc([person_doc("Ada", [sample_doc(det_score="high")])]),
    "det-score-too-big": export_doc([person_doc("Ada", [sample_doc(det_score=2.0)])]),
    "det-score-is-bool": export_doc([person_doc("Ada", [sample_doc(det_score=True)])]),
    "source-is-a-number": export_doc([person_doc("Ada", [sample_doc(source=5)])]),
    "content-hash-is-a-number": export_doc([person_doc("Ada", [sample_doc(content_hash=5)])]),
    "content-hash-not-hex": export_doc([person_doc("Ada", [sample_doc(content_hash="zz")])]),
    "thumbnail-is-a-number": export_doc([person_doc("Ada", [sample_doc(thumbnail=5)])]),
    "created-is-a-number": export_doc([person_doc("Ada", [sample_doc(created=5)])]),
    "created-not-a-date": export_doc([person_doc("Ada", [], created="yesterday")]),
    "version-is-bool": export_doc([], format_version=True),
    "twice-the-same-person": export_doc([person_doc("Ada", []), person_doc("ada", [])]),
    "root-is-a-list": [export_doc([])],
    "root-is-text": "facerec-gallery",
}


@pytest.mark.parametrize("raw", [pytest.param(json.dumps(doc).encode(), id=name) for name, doc in MALFORMED.items()]
                         + [pytest.param(DEEP, id="200000-deep"),
                            pytest.param(b'{"format": "facerec-gallery", "people": ' + DEEP + b"}", id="deep-people"),
                            pytest.param(json.dumps(export_doc([person_doc("Ada", [], notes="x")])).replace(
                                '"x"', "[" * 100 + "]" * 100).encode(), id="100-deep-notes"),
                            pytest.param(b"\xff\xfe not utf-8", id="not-utf8"),
                            pytest.param(json.dumps(export_doc([person_doc("Ada", [sample_doc()])])).replace(
                                "0.99", "NaN").encode(), id="nan-literal"),
                            pytest.param(b"", id="empty-file")])
def test_malformed_export_structure_is_refused_cleanly(store, raw):
    assert_refused(store, raw)


@pytest.mark.parametrize("case", ["thumbnail-20MB", "notes-5MB", "source-300", "too-many-people",
                                  "too-many-samples", "name-101"])
def test_oversized_exports_and_fields_are_refused(store, case):
    doc = export_doc([person_doc("Ada", [sample_doc()])])
    ada, sample = doc["people"][0], doc["people"][0]["samples"][0]
    if case == "thumbnail-20MB":
        sample["thumbnail"] = b64(image_bytes() + bytes(20_000_000))
    elif case == "notes-5MB":
        ada["notes"] = "n" * 5_000_000
    elif case == "source-300":
        sample["source"] = "s" * 300 + ".jpg"
    elif case == "too-many-people":
        doc["people"] = [person_doc(f"p{i}", []) for i in range(transfer.MAX_PEOPLE + 1)]
    elif case == "too-many-samples":
        ada["samples"] = [sample_doc(seed=i) for i in range(transfer.MAX_SAMPLES_PER_PERSON + 1)]
    else:
        ada["name"] = "n" * 101
    error = assert_refused(store, json.dumps(doc).encode())
    assert "at most" in str(error)


def test_an_export_file_over_the_limit_or_not_a_file_is_refused_before_reading(store, tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: nothing is written, the size is what counts
        fh.truncate(transfer.MAX_EXPORT_BYTES + 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file over the limit whole"))
    with pytest.raises(GalleryError, match="at most"):
        import_file(store, big, "facenet")
    with pytest.raises(GalleryError, match="at most"):
        import_data(store, bytes(transfer.MAX_EXPORT_BYTES + 1), "facenet")
    for not_a_file in (tmp_path, Path("/dev/zero"), tmp_path / "missing.json"):
        with pytest.raises(GalleryError):
            import_file(store, not_a_file, "facenet")
    assert store.people() == []


def test_the_limits_fit_a_real_gallery_and_are_documented(tmp_path, lfw_dir):
    """300 people with 5 samples each (real 96-px face thumbnails, as enrollment stores) import
    fine, with room to spare under every limit."""
    photos = sorted(lfw_dir.glob("*/*_0001.jpg"))[:300]
    thumbs = [face_thumbnail(load_image(p), (70, 70, 180, 180)) for p in photos]
    doc = export_doc([person_doc(f"Person {i}", [sample_doc(seed=i * 5 + j, source=f"photo_{j}.jpg",
                                                            thumbnail=b64(thumbs[i]))
                                                 for j in range(5)], notes="a colleague, third floor")
                      for i in range(300)])
    raw = json.dumps(doc).encode()
    assert len(raw) * 4 < transfer.MAX_EXPORT_BYTES
    assert 300 * 10 <= transfer.MAX_PEOPLE and 5 * 10 <= transfer.MAX_SAMPLES_PER_PERSON
    assert max(map(len, thumbs)) * 8 < transfer.MAX_THUMBNAIL_BYTES
    with GalleryStore(tmp_path / "g.sqlite3") as store:
        report = import_data(store, raw, "facenet", duplicate_cosine=1.1)
        assert (report.people_added, report.samples_added) == (300, 1500)
        assert len(export_file(store, tmp_path / "again.json", "facenet").read_bytes()) < transfer.MAX_EXPORT_BYTES
    for name in ("MAX_EXPORT_BYTES", "MAX_PEOPLE", "MAX_SAMPLES_PER_PERSON", "MAX_THUMBNAIL_BYTES",
                 "MAX_NOTES_LENGTH", "MAX_SOURCE_LENGTH", "MAX_JSON_DEPTH"):
        assert name in transfer.__doc__, name


def test_a_gallery_too_large_for_one_file_is_refused_at_export_not_at_import(store, tmp_path, monkeypatch):
    """Every export written can be imported again: one over the limits is refused when written."""
    store.add_samples("Ada", [NewSample(v, "facenet", 0.99) for v in unit_vectors(20, DIM, 5)])
    monkeypatch.setattr(transfer, "MAX_EXPORT_BYTES", 4096)
    with pytest.raises(GalleryError, match="too large"):
        export_file(store, tmp_path / "out.json", "facenet")
    assert not (tmp_path / "out.json").exists() and _tmp_files(tmp_path) == []


# =================================================================================================
# 2. One bad thumbnail kills the Gallery page
# =================================================================================================
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96"><image href="http://127.0.0.1:9/x"/></svg>'
BAD_THUMBNAILS = {
    "junk": b"definitely not an image" * 10,
    "svg": SVG,
    "gif": image_bytes(fmt="GIF", mode="P"),
    "bmp": image_bytes(fmt="BMP"),
    "truncated-jpeg": image_bytes(side=200)[:300],
    "jpeg-header-only": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "too-wide-png": image_bytes(side=4000, height=2, fmt="PNG", mode="1"),
    "bomb-png": image_bytes(side=20_000, fmt="PNG", mode="1"),
    "html-in-png-clothes": b"\x89PNG\r\n\x1a\n<script>alert(1)</script>",
}


@pytest.mark.parametrize("thumbnail", list(BAD_THUMBNAILS.values()), ids=list(BAD_THUMBNAILS))
def test_bad_thumbnails_in_an_export_are_refused(store, thumbnail):
    doc = export_doc([person_doc("Ada", [sample_doc(thumbnail=b64(thumbnail))])])
    error = assert_refused(store, json.dumps(doc).encode())
    assert "thumbnail" in str(error)


def test_good_jpeg_and_png_thumbnails_are_kept_exactly(store):
    jpeg, png = image_bytes(fmt="JPEG"), image_bytes(side=128, fmt="PNG")
    doc = export_doc([person_doc("Ada", [sample_doc(seed=1, thumbnail=b64(jpeg)),
                                         sample_doc(seed=2, thumbnail=b64(png)), sample_doc(seed=3, thumbnail=None)])])
    assert import_data(store, json.dumps(doc), "facenet").samples_added == 3
    assert [s.thumbnail for s in store.samples("Ada")] == [jpeg, png, None]


# ---- the page (Streamlit AppTest) ---------------------------------------------------------------
def _page_store(settings) -> tuple[GalleryStore, Path]:
    path = gallery_path(settings)
    return GalleryStore(path), path


def _all_nodes(at):
    return [node for node in at._tree if getattr(node, "proto", None) is not None]


def test_gallery_page_renders_every_section_with_junk_thumbnails_stored(gallery_env):
    store, path = _page_store(gallery_env)
    X = unit_vectors(3, DIM, 11)
    for i, name in enumerate(["Ada Junk", "Bob Svg", "Cy Good"]):
        person, outcomes = store.add_samples(name, [NewSample(X[i], "facenet", 0.99, f"{i}.jpg", None, image_bytes())])
        if i < 2:  # written behind the store's back, as an older facerec's import did
            set_raw_thumbnail(path, outcomes[0].sample_id, BAD_THUMBNAILS["junk"] if i == 0 else SVG)
    at = open_gallery()
    at.run()
    no_exception(at)
    labels = [e.label for e in at.expander]
    assert all(any(name in label for label in labels) for name in ("Ada Junk", "Bob Svg", "Cy Good")), labels
    assert [e.proto.label for e in _all_nodes(at) if type(e).__name__ == "DownloadButton"] == ["Export gallery (JSON)"]
    assert at.button(key="gallery_import") is not None and at.button(key="gallery_enroll") is not None
    assert any("Retrain" in label for label in labels)
    captions = "\n".join(c.value for c in at.caption)
    assert captions.count("thumbnail cannot be shown") == 2
    assert sum(len(list(e.proto.imgs)) for e in _all_nodes(at) if type(e).__name__ == "Image") == 1
    warnings = "\n".join(w.value for w in at.warning)
    assert "thumbnail" in warnings  # the health check names the damaged rows
    store.close()


# =================================================================================================
# 3. Markdown injection on the Gallery page
# =================================================================================================
EVIL = "http://127.0.0.1:{port}"
ATTACK_NAMES = ["![x]({url}/p.png)", "[click]({url}/l)", ":red[Red] alert", "**bold** Bob", ":material/home: Home",
                "<img src={url}/h.png>", "$x^2$ math", "Ada `code` _it_", "~~gone~~ # hash"]
ATTACK_NOTES = "[notes]({url}/n) ![n]({url}/n.png) :blue[note]"
ATTACK_SOURCE = "![s]({url}/s.png) **src**.jpg"


def _enroll_attackers(store: GalleryStore, url: str) -> list[str]:
    names = [n.format(url=url) for n in ATTACK_NAMES]
    X = unit_vectors(len(names), DIM, 21)
    for i, name in enumerate(names):
        store.add_samples(name, [NewSample(X[i], "facenet", 0.99, ATTACK_SOURCE.format(url=url), None, image_bytes())],
                          notes=ATTACK_NOTES.format(url=url))
    return names


def _strings(message, path=""):
    """Every string field of a protobuf message, with its dotted field path."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for v in values:
            if isinstance(v, str):
                yield f"{path}{field.name}", v
            elif hasattr(v, "ListFields"):
                yield from _strings(v, f"{path}{field.name}.")


def visible(markdown: str) -> str:
    """What a browser shows of escaped Markdown: backslash escapes resolved, word joiners unseen."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


# Fields Streamlit shows verbatim (never as Markdown): widget values and options.
PLAIN_FIELDS = ("value", "default", "options", "raw_value", "placeholder", "id", "form_id")


def test_markdown_in_names_notes_and_sources_is_shown_as_text(gallery_env):
    store, _ = _page_store(gallery_env)
    url = EVIL.format(port=9)
    names = _enroll_attackers(store, url)
    notes, source = ATTACK_NOTES.format(url=url), ATTACK_SOURCE.format(url=url)
    attacks = names + [notes, source]
    at = open_gallery()
    at.run()
    no_exception(at)
    # delete one sample: the flash message names its source
    first = store.samples(names[0])[0]
    at.button(key=f"gallery_del_sample_{first.id}").click()
    at.run()
    no_exception(at)
    shown, raw, verbatim = [], [], []
    for node in _all_nodes(at):
        for field, text in _strings(node.proto):
            if field.split(".")[-1] in PLAIN_FIELDS:
                verbatim.append(text)
                continue
            shown.append(text)
            raw += [(type(node).__name__, field, a) for a in attacks if a in text]
    assert not raw, raw
    everything = "\n".join(visible(text) for text in shown)
    for attack in names + [source]:  # and they are all on the page, shown as typed
        assert attack in everything, attack
    assert f"Deleted the sample {source}" in everything
    assert notes in verbatim and all(name in verbatim for name in names)  # widgets show them as typed
    store.close()


@pytest.mark.browser
def test_gallery_page_in_chromium_fetches_nothing_for_hostile_names(trained, tmp_path, monkeypatch):
    from tests.app.conftest import (apply_env, chromium_page, counting_server, goto_signed_in, settings_env,
                                    streamlit_server)

    settings = trained[0].replace(data_dir=tmp_path / "data")
    with counting_server() as (port, hits):
        url = f"http://127.0.0.1:{port}"
        store = GalleryStore(gallery_path(settings))
        names = _enroll_attackers(store, url)
        store.close()
        apply_env(monkeypatch, settings_env(settings))
        with streamlit_server(dict(os.environ), tmp_path / "streamlit.log") as app, \
                chromium_page([], {"width": 1400, "height": 3000}) as page:
            goto_signed_in(page, f"{app}/gallery", "admin")  # issue #16: the Gallery is an administrator's
            page.get_by_text("Export / import").first.wait_for(state="visible")
            page.wait_for_timeout(1500)
            for summary in page.locator('[data-testid="stExpander"] summary').all():
                summary.click()
            page.wait_for_timeout(2000)
            assert hits == [], hits
            assert page.locator('[data-testid="stException"]').count() == 0
            summaries = page.locator('[data-testid="stExpander"] summary').all_inner_texts()
            labels = [t.replace(WORD_JOINER, "") for t in summaries]
            for name in names:
                assert any(name in label for label in labels), (name, labels)
            srcs = [img.get_attribute("src") or "" for img in page.locator("img").all()]
            assert not [s for s in srcs if s.startswith(url)], srcs
            page.screenshot(path=str(tmp_path / "gallery.png"), full_page=True)
        assert hits == [], hits


# =================================================================================================
# 4. Look-alike names
# =================================================================================================
INVISIBLE = {"zero-width-space": "\u200b", "bidi-override": "\u202e", "left-to-right-mark": "\u200e",
             "isolate": "\u2066", "bom": "\ufeff", "soft-hyphen": "\u00ad", "c1-csi": "\u009b", "c1-0x80": "\u0080",
             "c1-0x90": "\u0090", "private-use": "\ue000", "surrogate": "\ud800", "noncharacter": "\uffff",
             "zwj-in-latin": "\u200d", "nul": "\x00", "escape": "\x1b"}


@pytest.mark.parametrize("char", list(INVISIBLE.values()), ids=list(INVISIBLE))
def test_names_with_invisible_characters_are_refused_everywhere(store, char, tmp_path):
    name = f"Ad{char}a"
    code = re.escape(f"U+{ord(char):04X}")
    with pytest.raises(GalleryError, match=code):
        store.create_person(name)
    with pytest.raises(GalleryError, match=code):
        store.add_samples(name, [NewSample(unit_vectors(1, DIM, 1)[0], "facenet", 0.99)])
    store.create_person("Ada")
    with pytest.raises(GalleryError, match=code):
        store.rename_person("Ada", name)
    raw = json.dumps(export_doc([person_doc(name, [sample_doc()])]), ensure_ascii=True)
    assert_refused(store, raw, code)
    assert [p.name for p in store.people()] == ["Ada"]


def test_scripts_that_need_a_joiner_keep_it_but_compare_without_it(store):
    persian = "مهدی\u200cزاده"     # ZWNJ between two Arabic-script letters
    hindi = "क्\u200dष"            # ZWJ after a virama
    for name in (persian, hindi):
        assert store.create_person(name).name == name
    with pytest.raises(GalleryError, match="already enrolled"):
        store.create_person(persian.replace("\u200c", ""))


VARIANTS = [("Émile", "E\u0301mile"), ("Émile", "émile"), ("Émile", "ÉMILE"), ("Émile", "e\u0301MILE"),
            ("Straße", "STRASSE"), ("Ǆemal", "ǆemal"), ("Ada", "ＡＤＡ"), ("Zoë Ω", "ZOË ω")]


@pytest.mark.parametrize("first,second", VARIANTS, ids=[f"{a}-{b}" for a, b in VARIANTS])
def test_case_and_normalisation_variants_are_one_person(store, first, second):
    X = unit_vectors(3, DIM, 31)
    person, _ = store.add_samples(first, [NewSample(X[0], "facenet", 0.99)])
    assert person.name == unicodedata.normalize("NFC", first)
    with pytest.raises(GalleryError, match="already enrolled"):
        store.create_person(second)
    merged, _ = store.add_samples(second, [NewSample(X[1], "facenet", 0.99)])
    assert merged.id == person.id and len(store.people()) == 1
    assert store.find_person(second).id == person.id
    other = store.create_person("Someone Else")
    with pytest.raises(GalleryError, match="already enrolled"):
        store.rename_person(other.id, second)
    report = import_data(store, json.dumps(export_doc([person_doc(second, [sample_doc(X[2])])])), "facenet")
    assert (report.people_added, report.people_merged) == (0, 1)
    assert_refused(store, json.dumps(export_doc([person_doc(first, []), person_doc(second, [])])), "twice")
    assert store.rename_person(person.id, second).name == unicodedata.normalize("NFC", second)  # own variant: fine
    assert store.delete_person(first) == 3


def make_v1_gallery(path: Path, names: list[str]) -> np.ndarray:
    X = unit_vectors(len(names), DIM, 41)
    conn = sqlite3.connect(path)
    try:
        for statement in schema.MIGRATIONS[0]:  # version 1 as it shipped (a shipped migration never changes)
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        for i, name in enumerate(names):
            pid = conn.execute("INSERT INTO people(name, notes, created, updated) VALUES (?, '', ?, ?)",
                               (name, CREATED, CREATED)).lastrowid
            conn.execute("INSERT INTO samples(person_id, backbone, dim, embedding, det_score, source, created) "
                         "VALUES (?, 'facenet', ?, ?, 0.99, 'v1.jpg', ?)", (pid, DIM, X[i].astype("<f4").tobytes(),
                                                                             CREATED))
        conn.commit()
    finally:
        conn.close()
    return X


def test_a_v1_gallery_opens_migrates_and_keeps_look_alikes_distinct_until_renamed(tmp_path):
    """Policy: a v1 gallery holding two names equal under the new comparison (SQLite's NOCASE was
    ASCII-only) still opens; both people and their samples are kept, the older one answers lookups
    by that name, and check() names the pair until one is renamed."""
    path = tmp_path / "v1.sqlite3"
    names = ["Ada", "Émile", "émile", "Zoe\u0308", "Bad\u200bName"]
    X = make_v1_gallery(path, names)
    with GalleryStore(path) as store:
        assert rows(path, "PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
        assert sorted(p.name for p in store.people()) == sorted(names)  # nothing renamed or lost
        assert [c.name for c in GallerySource(store, "facenet").search(X)] == names
        assert store.find_person("ADA").name == "Ada" and store.find_person("zoë").name == "Zoe\u0308"
        emile = store.find_person("ÉMILE")
        assert emile.name == "Émile"  # the older of the pair
        problems = "\n".join(store.check())
        assert "'Émile'" in problems and "'émile'" in problems, problems
        assert "Bad\\u200bName" in problems  # a v1 name the new rules refuse is reported, not dropped
        with pytest.raises(GalleryError, match="already enrolled"):
            store.create_person("EMILE".replace("E", "É", 1))
        younger = next(p for p in store.people() if p.name == "émile")
        store.rename_person(younger.id, "Émile Zola")
        assert not [p for p in store.check() if "Émile" in p]
        assert store.find_person("émile zola").id == younger.id
    with GalleryStore(path) as store:  # a second open does not migrate again
        assert rows(path, "PRAGMA user_version") == [(schema.SCHEMA_VERSION,)] and len(store.people()) == len(names)


# =================================================================================================
# 5. Uncaught tracebacks: export into impossible places, a data folder that is a file
# =================================================================================================
def _tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name) if folder.is_dir() else []


@pytest.mark.parametrize("where", ["missing-folder", "a-folder", "parent-is-a-file", "proc", "proc-file"])
def test_export_to_an_impossible_place_is_a_clear_error(store, tmp_path, where):
    store.add_samples("Ada", [NewSample(unit_vectors(1, DIM, 1)[0], "facenet", 0.99)])
    (tmp_path / "file.txt").write_text("x")
    target = {"missing-folder": tmp_path / "missing" / "out.json", "a-folder": tmp_path,
              "parent-is-a-file": tmp_path / "file.txt" / "out.json", "proc": Path("/proc/facerec-gallery.json"),
              "proc-file": Path("/proc/self/comm")}[where]
    with pytest.raises(GalleryError, match="export") as info:
        export_file(store, target, "facenet")
    assert str(target) in str(info.value)
    assert _tmp_files(tmp_path) == [] and _tmp_files(target.parent) == []
    assert (tmp_path / "file.txt").read_text() == "x"


def test_export_is_private_even_over_a_stale_tmp_and_a_public_old_export(store, tmp_path):
    store.add_samples("Ada", [NewSample(unit_vectors(1, DIM, 1)[0], "facenet", 0.99)])
    out = tmp_path / "out.json"
    stale = tmp_path / ".out.json.tmp"
    for path in (out, stale):
        path.write_text("old")
        path.chmod(0o644)
    export_file(store, out, "facenet")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text())["people"][0]["name"] == "Ada"
    assert _tmp_files(tmp_path) == [stale.name] and stale.read_text() == "old"  # not ours: left alone


def test_a_failed_export_write_leaves_nothing_behind(store, tmp_path, monkeypatch):
    store.add_samples("Ada", [NewSample(unit_vectors(1, DIM, 1)[0], "facenet", 0.99)])
    out = tmp_path / "out.json"
    out.write_text("previous export")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(transfer.os, "fsync", disk_full)
    with pytest.raises(GalleryError, match="No space left"):
        export_file(store, out, "facenet")
    assert _tmp_files(tmp_path) == [] and out.read_text() == "previous export"


def test_cli_export_and_people_with_impossible_paths_exit_cleanly(tmp_path, capsys):
    from facerec_core.cli import main

    data = tmp_path / "data"
    GalleryStore(data / "gallery.sqlite3").close()
    assert main(["export", str(tmp_path / "missing" / "g.json"), "--data-dir", str(data)]) == 2
    assert main(["export", str(tmp_path), "--data-dir", str(data)]) == 2
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    assert main(["people", "--data-dir", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "Traceback" not in err


def test_a_data_folder_that_is_a_file_or_a_gallery_that_is_a_folder_is_a_clear_error(tmp_path):
    a_file = tmp_path / "data"
    a_file.write_text("not a folder")
    with pytest.raises(GalleryError, match="folder"):
        GalleryStore(a_file / "gallery.sqlite3")
    assert a_file.read_text() == "not a folder"
    a_folder = tmp_path / "gallery.sqlite3"
    a_folder.mkdir(mode=0o755)
    with pytest.raises(GalleryError, match="not a file"):
        GalleryStore(a_folder)
    assert stat.S_IMODE(a_folder.stat().st_mode) == 0o755  # not chmod-ed to 0600 on the way
