"""Time and memory of ``Recognizer.recognize`` on hostile and large images (issue #14).

Each case runs in a fresh subprocess that loads the detector and backbone (no trained model, no
gallery), warms up on one LFW photo, resets its peak-RSS counter (``/proc/self/clear_refs``) and
then makes the one call, reporting wall time, CPU time (all threads) and the peak RSS above what
the process held just before the call. The parent also reads each child's whole-life peak RSS
(``os.wait4``). The table ends with the worst case per image class beside the targets: at most
5 s and 1 GB of extra RSS for any image, accepted or refused.

    .venv/bin/python bench/hostile_images.py                 # every case
    .venv/bin/python bench/hostile_images.py --only tiny_jpeg --only ordinary
    .venv/bin/python bench/hostile_images.py --draft         # what JPEG draft decoding would do

Photos come from $FACEREC_LFW_DIR (default ../shared/data/lfw); the machine's load average is
printed with the table, since the CPUs may be shared.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIMIT_S, LIMIT_MB = 5.0, 1024.0
LFW_DIR = Path(os.environ.get("FACEREC_LFW_DIR") or ROOT.parent / "shared" / "data" / "lfw")
PHOTO = ("Colin_Powell", 1)


def lfw_photo(name: str = PHOTO[0], index: int = PHOTO[1]) -> Image.Image:
    return Image.open(LFW_DIR / name / f"{name}_{index:04d}.jpg").convert("RGB")


# --- the inputs: files are written by the parent, arrays made by the child ---------------------

def _ordinary(path: Path) -> None:
    """640×480: two LFW photos on a plain backdrop, the size of a webcam snapshot."""
    canvas = Image.new("RGB", (640, 480), (150, 140, 130))
    canvas.paste(lfw_photo(), (40, 100))
    canvas.paste(lfw_photo("Tony_Blair", 1), (350, 120))
    canvas.save(path, quality=90)


def _tiny_jpeg(path: Path) -> None:
    """6000×6000 of one colour: the smallest Huffman-coded JPEG Pillow writes of it."""
    Image.new("RGB", (6000, 6000), (128, 120, 110)).save(path, quality=5, optimize=True)


def _real_jpeg(path: Path) -> None:
    """7000×5000 (35 MP): an LFW photo upscaled to 5000×5000 over a stretched copy of itself."""
    photo = lfw_photo()
    canvas = photo.resize((7000, 5000), Image.BILINEAR)
    canvas.paste(photo.resize((5000, 5000), Image.BICUBIC), (1000, 0))
    canvas.save(path, quality=90)


def _crowd(path: Path) -> None:
    """7000×5000 mosaic of 560 different LFW photos at their own size: 560 faces to embed."""
    files = sorted(LFW_DIR.glob("*/*.jpg"))
    pick = random.Random(0).sample(files, 28 * 20)
    canvas = Image.new("RGB", (7000, 5000))
    for k, f in enumerate(pick):
        canvas.paste(Image.open(f).convert("RGB"), (250 * (k % 28), 250 * (k // 28)))
    canvas.save(path, quality=90)


def _junk(path: Path) -> None:
    """300 MB of zeros named .jpg (sparse: no disk used)."""
    with open(path, "wb") as f:
        f.truncate(300 * 2 ** 20)


def _png(width: int, height: int, mode: str = "L", row: bytes | None = None) -> bytes:
    """A PNG of zero pixels written row by row (any size, little memory): ``mode`` L or I;16."""
    depth, bpp = (16, 2) if mode == "I;16" else (8, 1)
    raw = b"\0" + (row or bytes(width * bpp))
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(raw) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([depth, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _png_bomb(path: Path) -> None:
    """30000×30000 gray (900 MP, 1.1 MB on disk): a classic decompression bomb."""
    path.write_bytes(_png(30000, 30000))


def _png_at_limit(path: Path) -> None:
    """6320×6320 gray (39.9 MP, under the 40 MP limit) of zeros: 39 KB that decode to 40 MB."""
    path.write_bytes(_png(6320, 6320))


def _png_16bit(path: Path) -> None:
    """6000×6000 16-bit gray: 36 MP, 72 MB of samples to scale to 8 bits."""
    path.write_bytes(_png(6000, 6000, "I;16"))


def _gif_frames(path: Path) -> None:
    """1,000,000 frames of 1×1 (17 MB): the frame count is read, the frames are not decoded."""
    buf = io.BytesIO()
    Image.new("P", (1, 1)).save(buf, "GIF")
    g = buf.getvalue()
    start = g.index(b",")  # the image descriptor
    path.write_bytes(g[:start] + g[start:-1] * 1_000_000 + b";")


FILES = {"ordinary": ("JPEG", _ordinary, "ordinary.jpg"), "tiny_jpeg": ("JPEG", _tiny_jpeg, "tiny.jpg"),
         "real_jpeg": ("JPEG", _real_jpeg, "real.jpg"), "crowd": ("crowd", _crowd, "crowd.jpg"),
         "junk": ("junk", _junk, "junk.jpg"), "png_bomb": ("PNG", _png_bomb, "bomb.png"),
         "png_at_limit": ("PNG", _png_at_limit, "limit.png"), "png_16bit": ("PNG", _png_16bit, "deep.png"),
         "gif_frames": ("GIF", _gif_frames, "frames.gif")}
ARRAYS = {"array_7000": "7000×7000×3 uint8 (49 MP, over the limit)",
          "array_rgba": "6000×6000×4 uint8 RGBA (36 MP)",
          "array_float": "6000×6000×3 float64 in 0-1 (36 MP, 864 MB)"}


def _array(case: str) -> np.ndarray:
    if case == "array_7000":
        return np.full((7000, 7000, 3), 128, np.uint8)
    photo = np.asarray(lfw_photo().resize((6000, 6000), Image.BILINEAR))
    if case == "array_rgba":
        return np.concatenate([photo, np.full((6000, 6000, 1), 200, np.uint8)], axis=2)
    out = np.empty(photo.shape, np.float64)
    np.divide(photo, 255.0, out=out)
    return out


# --- one case, in the child ---------------------------------------------------------------------

def _status(key: str) -> float:
    """VmRSS / VmHWM of this process, in MB."""
    return int(re.search(rf"{key}:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024


def child(case: str, source: str) -> None:
    import logging

    from facerec_core.errors import FacerecError
    from facerec_core.recognizer import Recognizer
    from facerec_core.settings import Settings

    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="hostile-"))
    settings = Settings.from_env().replace(artifacts_dir=tmp / "no-model", data_dir=tmp / "data")
    rec = Recognizer.load(settings, require_model=False)
    rec.recognize(np.asarray(lfw_photo()))  # warm-up: first calls pay for lazy setup
    image = _array(case) if case in ARRAYS else Path(source)
    Path("/proc/self/clear_refs").write_text("5")  # restart the peak-RSS counter here
    before = _status("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        faces = rec.recognize(image)
        outcome = f"accepted, {len(faces)} face(s)" + (f"; note: {faces[0].note}" if faces and faces[0].note else "")
    except FacerecError as exc:
        outcome = f"refused: {exc}"
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"wall": wall, "cpu": cpu, "extra_mb": _status("VmHWM") - before, "outcome": outcome,
                      "max_detect_side": settings.max_detect_side}))


# --- would JPEG draft decoding hurt the embedding? ------------------------------------------------

def draft_study(n_photos: int = 40, upscale: int = 4) -> None:
    """Pillow's ``Image.draft`` decodes a JPEG at 1/2, 1/4 or 1/8 of its size (cheaper: the DCT
    is scaled), but then faces are cut from the smaller picture. For ``n_photos`` LFW photos
    (different people) upscaled ``upscale`` times and saved as JPEG, compare the embedding of the
    face found in the full decode with the one found in each draft decode, and time decoding a
    35 MP JPEG each way."""
    import logging

    from facerec_core.detect import central_face
    from facerec_core.images import load_image
    from facerec_core.recognizer import Recognizer
    from facerec_core.settings import Settings

    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="hostile-draft-"))
    rec = Recognizer.load(Settings.from_env().replace(artifacts_dir=tmp / "none", data_dir=tmp / "data"),
                          require_model=False)
    people = sorted(p for p in LFW_DIR.iterdir() if p.is_dir())[:n_photos * 5:5]
    rows: dict[int, list[tuple[float, float, float]]] = {2: [], 4: [], 8: []}
    for person in people:
        photo = Image.open(sorted(person.glob("*.jpg"))[0]).convert("RGB")
        big = photo.resize((photo.width * upscale, photo.height * upscale), Image.BICUBIC)
        buf = io.BytesIO()
        big.save(buf, "JPEG", quality=90)
        full = load_image(buf.getvalue())
        face = central_face(rec.detect(full), full.shape)
        if face is None:
            continue
        reference = rec.embed(full, [face])[0].embedding
        for scale in rows:
            img = Image.open(io.BytesIO(buf.getvalue()))
            img.draft("RGB", (img.width // scale, img.height // scale))
            small = np.asarray(img.convert("RGB"))
            found = central_face(rec.detect(small), small.shape)
            # what the detection bound does instead: detect on a copy that size, cut from the full decode
            bounded = central_face(rec.detector.detect(full, max_side=max(small.shape[:2])), full.shape)
            if found is not None and bounded is not None:
                rows[scale].append((float(rec.embed(small, [found])[0].embedding @ reference), found.size,
                                    float(rec.embed(full, [bounded])[0].embedding @ reference)))
    print(f"{len(people)} LFW photos upscaled {upscale}x (faces ~{110 * upscale} px), JPEG q90. Cosine to the "
          "embedding of the full decode, detected at full size, of the face")
    print("  draft: detected and cut in the draft decode; bound: detected on a copy of the draft's size, "
          "cut from the full decode")
    print(f"{'decode':>6} {'faces':>6} {'face px':>8} {'draft mean':>11} {'draft min':>10} {'bound mean':>11} "
          f"{'bound min':>10}")
    for scale, found in rows.items():
        draft, bound = np.array([r[0] for r in found]), np.array([r[2] for r in found])
        size = np.median([r[1] for r in found]) if found else 0
        print(f"{'1/' + str(scale):>6} {len(found):6d} {size:8.0f} {draft.mean():11.4f} {draft.min():10.4f} "
              f"{bound.mean():11.4f} {bound.min():10.4f}")
    for make in (_real_jpeg, _crowd):
        path = tmp / "big.jpg"
        make(path)
        print(f"decoding {make.__doc__.split(':')[0]} ({path.stat().st_size / 2 ** 20:.1f} MB):")
        for scale in (1, 2, 4, 8):
            t = time.perf_counter()
            img = Image.open(path)
            if scale > 1:
                img.draft("RGB", (img.width // scale, img.height // scale))
            img.load()
            print(f"  1/{scale}: {img.width}x{img.height} in {time.perf_counter() - t:.2f} s")


# --- the parent ---------------------------------------------------------------------------------

def run_case(case: str, source: Path | None) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--child", case, str(source or "")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"case {case} failed (exit {proc.returncode}):\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["life_peak_mb"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--only", action="append", choices=[*FILES, *ARRAYS], help="run just these cases")
    parser.add_argument("--draft", action="store_true", help="measure JPEG draft decoding instead")
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.draft:
        return draft_study()
    cases = args.only or [*FILES, *ARRAYS]
    rows = []
    with tempfile.TemporaryDirectory(prefix="hostile-inputs-") as tmp:
        for case in cases:
            if case in FILES:
                kind, make, filename = FILES[case]
                source = Path(tmp) / filename
                make(source)
                what = f"{filename} ({source.stat().st_size / 2 ** 20:.2f} MB): {make.__doc__.splitlines()[0]}"
            else:
                kind, source, what = "array", None, ARRAYS[case]
            r = run_case(case, source)
            rows.append((case, kind, what, r))
            print(f"{case:13} {r['wall']:6.2f} s {r['cpu']:6.2f} CPU-s {r['extra_mb']:7.0f} MB  {r['outcome'][:110]}",
                  flush=True)
    _report(rows)


def _report(rows) -> None:
    load = os.getloadavg()
    side = rows[0][3]["max_detect_side"] if rows else "?"
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"FACEREC_MAX_DETECT_SIDE={side}")
    print(f"\n{'case':13} {'class':6} {'wall s':>7} {'CPU s':>7} {'+RSS MB':>8} {'life MB':>8}  outcome / input")
    for case, kind, what, r in rows:
        print(f"{case:13} {kind:6} {r['wall']:7.2f} {r['cpu']:7.2f} {r['extra_mb']:8.0f} {r['life_peak_mb']:8.0f}  "
              f"{r['outcome'][:120]}\n{'':61}{what}")
    print(f"\nworst case per image class (targets: {LIMIT_S:.0f} s, {LIMIT_MB:.0f} MB extra RSS)")
    print(f"{'class':6} {'wall s':>7} {'CPU s':>7} {'+RSS MB':>8}  verdict  (cases)")
    for kind in dict.fromkeys(k for _, k, _, _ in rows):
        mine = [(c, r) for c, k, _, r in rows if k == kind]
        wall, cpu, mb = (max(r[key] for _, r in mine) for key in ("wall", "cpu", "extra_mb"))
        verdict = "within" if wall <= LIMIT_S and mb <= LIMIT_MB else "OVER"
        print(f"{kind:6} {wall:7.2f} {cpu:7.2f} {mb:8.0f}  {verdict:7}  ({', '.join(c for c, _ in mine)})")


if __name__ == "__main__":
    main()
