"""Speed benchmark: our pipeline (per backbone) and the face_recognition library, side by side.

    python bench/speed.py                         # everything, the whole LFW in bulk (~10 min)
    python bench/speed.py --bulk-images 2000      # a quicker bulk sample
    python bench/speed.py --no-peer --bulk-images 0

1. Interactive: one 640×480 JPEG with one face (an LFW photo on a plain backdrop), models
   loaded and warm. Per stage (load = JPEG decode, detect, align, embed, identify against a
   gallery of 9,164 embeddings of 1,680 people: the original protocol's size) the median ms,
   then the whole request (bytes in, names out) p50/p95 over ``--repeats`` runs, and the peak
   memory (RSS) of the process. Every row runs in a fresh process.
2. Bulk: LFW photos through the bulk embedding pipeline (worker processes, nothing cached), and
   the peer with as many processes on its own sample; images per second and the ratio.
3. ``--check-accuracy``: View-2 on the bulk run's embeddings beside the fp32 reference's
   (needs the whole LFW in bulk).

Install the peer for the benchmark only: ``pip install --no-deps face_recognition==1.3.0``.
"""
from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core.lfw import scan_lfw  # noqa: E402
from facerec_core.settings import Settings, resolve_device, resolve_precision  # noqa: E402

GALLERY_SIZE, GALLERY_PEOPLE = 9164, 1680
PHOTO = ("Colin_Powell", 1)


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # KiB on Linux


def test_photo(lfw_dir: Path) -> bytes:
    """A 640×480 JPEG: an LFW photo (face ~130 px) on a plain backdrop."""
    from PIL import Image

    from facerec_core.images import load_image
    from tests.support.scenes import compose_frame

    name, index = PHOTO
    photo = load_image(lfw_dir / name / f"{name}_{index:04d}.jpg")
    photo = np.asarray(Image.fromarray(photo).resize((320, 320), Image.BILINEAR))
    buf = io.BytesIO()
    Image.fromarray(compose_frame([photo], [(160, 80)])).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _summary(samples: list[float]) -> dict:
    ms = np.asarray(samples) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "n": len(ms)}


def _synthetic_gallery(dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # Identify's cost depends on the gallery's size only; these vectors are for timing.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(GALLERY_SIZE, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, rng.integers(0, GALLERY_PEOPLE, GALLERY_SIZE)


# ---- interactive: one row per process ----------------------------------------------------------
def ours_interactive(backbone_name: str, settings: Settings, jpeg: bytes, repeats: int) -> dict:
    from facerec_core.backbones import load_backbone
    from facerec_core.detect import FaceDetector
    from facerec_core.identity import NearestNeighborIdentifier
    from facerec_core.images import load_image
    from facerec_core.recognizer import Recognizer
    from facerec_core.runtime import interactive_threads

    device = resolve_device(settings.device)
    t0 = time.perf_counter()
    detector = FaceDetector(settings.min_face_size, settings.detection_threshold, device=device)
    backbone = load_backbone(backbone_name, settings, device=device)
    X, y = _synthetic_gallery(backbone.embedding_size)
    recognizer = Recognizer(detector, backbone, NearestNeighborIdentifier().fit(X, y), threshold=0.5,
                            threads=settings.threads)
    load_s = time.perf_counter() - t0
    parts = getattr(backbone, "parts", [backbone])

    def staged() -> dict[str, float]:
        t = [time.perf_counter()]
        image = load_image(jpeg)
        t.append(time.perf_counter())
        faces = recognizer.detect(image)
        t.append(time.perf_counter())
        crops = [p.crops(image, faces) for p in parts]
        t.append(time.perf_counter())
        embs = [p.embed_crops(c) for p, c in zip(parts, crops)]
        emb = np.concatenate(embs, axis=1)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        for f, e in zip(faces, emb):
            f.embedding = e
        t.append(time.perf_counter())
        recognizer.identify(faces)
        t.append(time.perf_counter())
        return dict(zip(["load", "detect", "align", "embed", "identify"], np.diff(t)))

    for _ in range(3):  # warm-up: first calls allocate
        staged()
        recognizer.recognize(jpeg)
    stages = [staged() for _ in range(repeats)]
    total = []
    for _ in range(repeats):
        t = time.perf_counter()
        faces = recognizer.recognize(jpeg)
        total.append(time.perf_counter() - t)
    return {"row": f"facerec {backbone_name}", "faces": len(faces), "model_load_s": load_s,
            "stages_ms": {k: float(np.median([s[k] for s in stages]) * 1e3) for k in stages[0]},
            "request": _summary(total), "peak_rss_mib": peak_rss_mib(),
            "threads": interactive_threads(settings.threads), "device": device,
            "precision": getattr(parts[0], "precision", "fp32")}


def peer_interactive(jpeg: bytes, repeats: int) -> dict:
    from peer_face_recognition import load_face_recognition

    fr = load_face_recognition()
    from face_recognition import api

    known, _ = _synthetic_gallery(128)

    def staged() -> dict[str, float]:
        t = [time.perf_counter()]
        image = fr.load_image_file(io.BytesIO(jpeg))
        t.append(time.perf_counter())
        boxes = fr.face_locations(image)
        t.append(time.perf_counter())
        landmarks = api._raw_face_landmarks(image, boxes, model="small")
        t.append(time.perf_counter())
        encodings = [np.asarray(api.face_encoder.compute_face_descriptor(image, lm, 1)) for lm in landmarks]
        t.append(time.perf_counter())
        for e in encodings:
            int(np.argmin(fr.face_distance(known, e)))
        t.append(time.perf_counter())
        return dict(zip(["load", "detect", "align", "embed", "identify"], np.diff(t)))

    def request() -> int:
        image = fr.load_image_file(io.BytesIO(jpeg))
        encodings = fr.face_encodings(image, fr.face_locations(image))
        for e in encodings:
            int(np.argmin(fr.face_distance(known, e)))
        return len(encodings)

    for _ in range(2):
        staged()
        request()
    stages = [staged() for _ in range(repeats)]
    total, faces = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        faces = request()
        total.append(time.perf_counter() - t)
    return {"row": "face_recognition (peer)", "faces": faces,
            "stages_ms": {k: float(np.median([s[k] for s in stages]) * 1e3) for k in stages[0]},
            "request": _summary(total), "peak_rss_mib": peak_rss_mib(), "threads": 1, "device": "cpu",
            "precision": "fp32"}


# ---- bulk ----------------------------------------------------------------------------------------
def ours_bulk(backbone_name: str, settings: Settings, paths: list[str], check_accuracy: bool) -> dict:
    from facerec_core.embeddings import extract_embeddings

    with tempfile.TemporaryDirectory() as tmp:
        run_settings = settings.replace(cache_dir=Path(tmp))
        t = time.perf_counter()
        emb = extract_embeddings(paths, run_settings, backbone_name=backbone_name, progress=False)
        seconds = time.perf_counter() - t
        out = {"row": f"facerec {backbone_name}", "images": len(paths), "seconds": seconds,
               "images_per_s": len(paths) / seconds, "workers": settings.workers, "counts": emb.counts(),
               "peak_rss_mib": {"main": peak_rss_mib(), "largest_worker": peak_rss_mib(resource.RUSAGE_CHILDREN)},
               "precision": resolve_precision(settings.precision, resolve_device(settings.device))}
        if check_accuracy:
            from facerec_core.training import view2_verification

            v = view2_verification(run_settings, backbone_name=backbone_name)  # the embeddings just made
            out["view2"] = {"accuracy": v["accuracy_mean"], "std": v["accuracy_std"]}
    return out


def peer_bulk(paths: list[str], workers: int) -> dict:
    from peer_face_recognition import peer_encodings

    with tempfile.TemporaryDirectory() as tmp:
        _, status, timing = peer_encodings(paths, Path(tmp) / "peer.npz", workers=workers)
    return {"row": "face_recognition (peer)", "images": timing["images"], "seconds": timing["seconds"],
            "images_per_s": timing["images"] / timing["seconds"], "workers": workers,
            "peak_rss_mib": {"main": peak_rss_mib(), "largest_worker": peak_rss_mib(resource.RUSAGE_CHILDREN)},
            "counts": {"ok": int((status == "ok").sum()), "assumed": int((status == "assumed").sum())}}


def reference_view2(settings: Settings, backbone_name: str) -> dict:
    from facerec_core.training import view2_verification

    v = view2_verification(settings.replace(precision="fp32"), backbone_name=backbone_name)
    return {"accuracy": v["accuracy_mean"], "std": v["accuracy_std"]}


def in_fresh_process(fn, *args):
    """Run ``fn`` in a new process, so that its peak memory and its threads are its own."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# ---- report --------------------------------------------------------------------------------------
def print_interactive(rows: list[dict]) -> None:
    print("\n== Interactive: one 640×480 JPEG with one face, warm models (median ms per stage) ==")
    head = f"{'':32}{'load':>7}{'detect':>8}{'align':>7}{'embed':>7}{'ident.':>7}{'p50':>8}{'p95':>8}{'RSS MiB':>9}  threads/precision"
    print(head)
    for r in rows:
        s = r["stages_ms"]
        print(f"{r['row']:32}{s['load']:7.1f}{s['detect']:8.1f}{s['align']:7.1f}{s['embed']:7.1f}{s['identify']:7.1f}"
              f"{r['request']['p50_ms']:8.1f}{r['request']['p95_ms']:8.1f}{r['peak_rss_mib']:9.0f}  "
              f"{r['threads']}/{r['precision']}" + ("" if r["faces"] == 1 else f"  (faces found: {r['faces']})"))


def print_bulk(rows: list[dict]) -> None:
    print("\n== Bulk: LFW photos, nothing cached ==")
    print(f"{'':32}{'images':>8}{'seconds':>9}{'img/s':>8}{'workers':>9}{'RSS MiB main/worker':>22}")
    for r in rows:
        m = r["peak_rss_mib"]
        print(f"{r['row']:32}{r['images']:8d}{r['seconds']:9.1f}{r['images_per_s']:8.1f}{r['workers']:9d}"
              f"{m['main']:>13.0f}/{m['largest_worker']:.0f}")
    peer = next((r for r in rows if "peer" in r["row"]), None)
    if peer:
        for r in rows:
            if r is not peer:
                print(f"{r['row']}: {r['images_per_s'] / peer['images_per_s']:.2f}× the peer's images per second")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw-dir", type=Path, help="default: FACEREC_LFW_DIR")
    ap.add_argument("--backbones", default="facenet,dlib-resnet,facenet+dlib")
    ap.add_argument("--bulk-backbones", help="backbones for the bulk run (default: the settings' backbone)")
    ap.add_argument("--repeats", type=int, default=50, help="requests per interactive row")
    ap.add_argument("--bulk-images", type=int, default=-1, help="LFW photos in bulk (-1: all; 0: skip)")
    ap.add_argument("--peer-bulk-images", type=int, default=1500, help="photos for the peer's bulk rate")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--check-accuracy", action="store_true", help="View-2 of the bulk embeddings vs fp32")
    ap.add_argument("--device", help="cpu, cuda or auto (default: FACEREC_DEVICE or auto)")
    ap.add_argument("--precision", help="fp32, bf16, fp16, int8 or auto (default: FACEREC_PRECISION or auto)")
    ap.add_argument("--threads", type=int, help="torch threads per interactive request (default automatic)")
    ap.add_argument("--workers", type=int, help="bulk worker processes (default: FACEREC_WORKERS or 2)")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = ap.parse_args(argv)

    settings = Settings.from_env().replace(lfw_dir=args.lfw_dir, device=args.device, precision=args.precision,
                                           threads=args.threads, workers=args.workers)
    if settings.lfw_dir is None or not settings.lfw_dir.is_dir():
        raise SystemExit("set FACEREC_LFW_DIR (or --lfw-dir) to the LFW folder")
    import torch

    print(f"machine: {mp.cpu_count()} cores; torch {torch.__version__}; device {resolve_device(settings.device)}")
    jpeg = test_photo(settings.lfw_dir)
    report: dict = {"interactive": [], "bulk": []}
    for name in [b for b in args.backbones.split(",") if b]:
        report["interactive"].append(in_fresh_process(ours_interactive, name, settings, jpeg, args.repeats))
    if not args.no_peer:
        report["interactive"].append(in_fresh_process(peer_interactive, jpeg, args.repeats))
    print_interactive(report["interactive"])

    if args.bulk_images:
        paths, _ = scan_lfw(settings.lfw_dir).samples()
        paths = [str(p) for p in paths]
        ours_paths = paths if args.bulk_images < 0 else paths[:: max(1, len(paths) // args.bulk_images)][: args.bulk_images]
        for name in (args.bulk_backbones or settings.backbone).split(","):
            report["bulk"].append(in_fresh_process(ours_bulk, name, settings, ours_paths, args.check_accuracy))
            if args.check_accuracy:
                report["bulk"][-1]["view2_fp32"] = reference_view2(settings, name)
        if not args.no_peer:
            peer_paths = paths[:: max(1, len(paths) // args.peer_bulk_images)][: args.peer_bulk_images]
            report["bulk"].append(in_fresh_process(peer_bulk, peer_paths, settings.workers))
        print_bulk(report["bulk"])
        for r in report["bulk"]:
            if "view2" in r:
                v, ref = r["view2"], r["view2_fp32"]
                print(f"{r['row']} View-2 ({r['precision']}, bulk embeddings): {100 * v['accuracy']:.2f}% ± {100 * v['std']:.2f}"
                      f"; fp32 reference: {100 * ref['accuracy']:.2f}% ± {100 * ref['std']:.2f}"
                      f"; difference {100 * (v['accuracy'] - ref['accuracy']):+.2f} points")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
