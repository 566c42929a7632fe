"""Golden results: ``recognize()`` and ``verify()`` on real LFW photos, with the session's trained
model and a small enrolled gallery, equal (to 1e-6) to what the code gave when the file was
written. Names, scores, reasons, notes, boxes and top-k matches all count.

The file ``tests/data/golden.json`` is written by this same test with ``FACEREC_WRITE_GOLDEN=1``:
first on the code before the identification code was reorganised (commit b1d5373, int8), then
rewritten (fp32) when issue #13 put matches on the decision scale, added each face's reason and
made verification's default the strict preset: deliberate changes of the answers. Embeddings depend on the arithmetic the machine
picks (``precision``), so the golden file records it and is compared only on a machine that picks
the same one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from facerec_core.gallery import GalleryStore, enroll
from facerec_core.recognizer import Recognizer
from facerec_core.settings import resolve_device, resolve_precision
from tests.conftest import lfw_photo

GOLDEN = Path(__file__).resolve().parent / "data" / "golden.json"
TOLERANCE = 1e-6
ROUNDED = 1.01e-4  # to_dict() rounds to 4 decimals: a 1e-7 change may move the last digit

# Two people the session model does not know, enrolled from three photos each.
GALLERY = {"Serena_Williams": [1, 2, 3], "Jean_Chretien": [1, 2, 3]}
PROBES = [("Colin_Powell", 30), ("Tony_Blair", 50), ("George_W_Bush", 100), ("Donald_Rumsfeld", 40),
          ("Serena_Williams", 10), ("Jean_Chretien", 10), ("Aaron_Eckhart", 1), ("Abel_Pacheco", 2),
          ("Jacques_Chirac", 5), ("Gerhard_Schroeder", 30)]
# pairs.txt, fold 1: two matched and two mismatched pairs.
PAIRS = [("Abel_Pacheco", 1, "Abel_Pacheco", 4), ("Akhmed_Zakayev", 1, "Akhmed_Zakayev", 3),
         ("Abdel_Madi_Shabneh", 1, "Dean_Barker", 1), ("Abdel_Madi_Shabneh", 1, "Giancarlo_Fisichella", 1)]


def _faces(faces) -> list[dict]:
    return [f.to_dict() | {"confidence_raw": None if f.confidence is None else float(f.confidence),
                           "box_raw": [float(v) for v in f.box],
                           "matches_raw": [[m.name, float(m.score)] for m in f.matches]} for f in faces]


def _verification(v) -> dict:
    return {"same": v.same, "similarity": float(v.similarity), "threshold": float(v.threshold)}


def snapshot(settings, lfw_dir: Path) -> dict:
    """Everything the golden file holds, computed with the code under test."""
    with GalleryStore.open(settings) as store:
        rec = Recognizer.load(settings)
        for name, idx in GALLERY.items():
            report = enroll(store, rec, name.replace("_", " "), [lfw_photo(lfw_dir, name, i) for i in idx])
            assert report.added == len(idx)
    rec = Recognizer.load(settings)  # a fresh facade finds the gallery on disk
    out: dict = {"precision": resolve_precision(settings.precision, resolve_device(settings.device)),
                 "threshold": rec.threshold, "verify_threshold": rec.verify_threshold, "recognize": {}}
    for name, idx in PROBES:
        out["recognize"][f"{name}_{idx:04d}"] = _faces(rec.recognize(lfw_photo(lfw_dir, name, idx)))
    pair_image = np.concatenate([np.asarray(_load(lfw_photo(lfw_dir, "Colin_Powell", 31))),
                                 np.asarray(_load(lfw_photo(lfw_dir, "Serena_Williams", 11)))], axis=1)
    out["recognize"]["two_people"] = _faces(rec.recognize(pair_image))
    out["recognize"]["low_threshold"] = _faces(rec.recognize(lfw_photo(lfw_dir, "Abel_Pacheco", 2), threshold=0.4))
    small = np.asarray(_load(lfw_photo(lfw_dir, "Colin_Powell", 30)))[::3, ::3].copy()  # a face under 40 px
    out["recognize"]["small_face"] = _faces(rec.recognize(small, min_face_size=12))
    out["verify"] = [_verification(rec.verify(lfw_photo(lfw_dir, a, i), lfw_photo(lfw_dir, b, j)))
                     for a, i, b, j in PAIRS]
    bare = Recognizer.load(settings.replace(artifacts_dir=settings.data_dir / "no-model"), require_model=False)
    out["no_model"] = {
        "threshold": bare.threshold, "verify_threshold": bare.verify_threshold,
        "recognize": {f"{n}_{i:04d}": _faces(bare.recognize(lfw_photo(lfw_dir, n, i)))
                      for n, i in (("Serena_Williams", 10), ("Jean_Chretien", 10), ("Aaron_Eckhart", 1))},
        "verify": [_verification(bare.verify(lfw_photo(lfw_dir, a, i), lfw_photo(lfw_dir, b, j)))
                   for a, i, b, j in PAIRS],
    }
    return out


def _load(path: Path):
    from facerec_core.images import load_image

    return load_image(path)


def _assert_close(actual, expected, where: str = "", tolerance: float = TOLERANCE) -> None:
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            rounded = key in ("box", "det_score", "landmarks", "confidence", "matches")  # the to_dict() fields
            _assert_close(actual[key], expected[key], f"{where}.{key}", ROUNDED if rounded else tolerance)
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: {len(actual)} items, expected {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_close(a, e, f"{where}[{i}]", tolerance)
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert actual == pytest.approx(expected, abs=tolerance), f"{where}: {actual} != {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.mark.slow
def test_recognize_and_verify_equal_the_golden_results(trained, lfw_dir, tmp_path):
    settings, _ = trained
    settings = settings.replace(data_dir=tmp_path / "data")
    if os.environ.get("FACEREC_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(snapshot(settings, lfw_dir), indent=1) + "\n")
        pytest.skip(f"wrote {GOLDEN}")
    golden = json.loads(GOLDEN.read_text())
    precision = resolve_precision(settings.precision, resolve_device(settings.device))
    if precision != golden["precision"]:
        pytest.skip(f"the golden results were computed in {golden['precision']}; this machine embeds in {precision}")
    _assert_close(json.loads(json.dumps(snapshot(settings, lfw_dir))), golden)
