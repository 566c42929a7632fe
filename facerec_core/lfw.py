"""LFW-layout folders and the official protocol files (pairs.txt, people.txt, dev splits)."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from .errors import DatasetError

_IMAGE_RE = re.compile(r"^(?P<name>.+)_(?P<index>\d{4})\.(jpg|jpeg|png)$", re.IGNORECASE)


@dataclasses.dataclass
class LFWDataset:
    """People and their image paths, sorted by name then image index."""

    root: Path
    people: dict[str, list[Path]]

    @property
    def n_people(self) -> int:
        return len(self.people)

    @property
    def n_images(self) -> int:
        return sum(len(v) for v in self.people.values())

    def image_counts(self) -> dict[str, int]:
        return {name: len(paths) for name, paths in self.people.items()}

    def filter_min_images(self, min_images: int) -> "LFWDataset":
        """Keep people with at least ``min_images`` images (the original design used 2)."""
        return LFWDataset(self.root, {n: p for n, p in self.people.items() if len(p) >= min_images})

    def only(self, names) -> "LFWDataset":
        names = set(names)
        return LFWDataset(self.root, {n: p for n, p in self.people.items() if n in names})

    def merge(self, groups: list[list[str]]) -> "LFWDataset":
        """Merge each group of names into one person, filed under the name with most images."""
        people = dict(self.people)
        for group in groups:
            present = [n for n in group if n in people]
            if len(present) < 2:
                continue
            keep = max(present, key=lambda n: (len(people[n]), n))
            people[keep] = sorted((p for n in present for p in people[n]), key=lambda p: (p.parent.name, p.name))
            for n in present:
                if n != keep:
                    del people[n]
        return LFWDataset(self.root, dict(sorted(people.items())))

    def samples(self) -> tuple[list[Path], list[str]]:
        """Flat lists of image paths and their person labels."""
        paths, labels = [], []
        for name, person_paths in self.people.items():
            paths.extend(person_paths)
            labels.extend([name] * len(person_paths))
        return paths, labels

    def image_path(self, name: str, index: int) -> Path:
        return image_path(self.root, name, index)


def image_path(root: Path, name: str, index: int) -> Path:
    """``<root>/<name>/<name>_<index:04d>.jpg``: how the protocol files name an image."""
    return Path(root) / name / f"{name}_{int(index):04d}.jpg"


def name_variants(names) -> list[list[str]]:
    """Groups of names made of the same words in another order or spelling of separators, such as
    ``Sung_Hong_Choi`` and ``Choi_Sung-hong``: LFW files some people under two names."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        key = tuple(sorted(t.lower() for t in re.split(r"[_\-\s]+", name) if t))
        groups.setdefault(key, []).append(name)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def scan_lfw(root: Path | str | None) -> LFWDataset:
    """Scan ``<root>/<Person_Name>/<Person_Name>_NNNN.jpg``; files that do not follow the layout
    are ignored. Raises :class:`DatasetError` if the folder is missing or holds no images."""
    if root is None:
        raise DatasetError("no LFW folder configured: set FACEREC_LFW_DIR or pass --lfw-dir")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"LFW folder {root} does not exist")
    people: dict[str, list[Path]] = {}
    for person_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = []
        for f in person_dir.iterdir():
            m = _IMAGE_RE.match(f.name)
            if m and m.group("name") == person_dir.name and f.is_file():
                files.append((int(m.group("index")), f))
        if files:
            people[person_dir.name] = [f for _, f in sorted(files)]
    if not people:
        raise DatasetError(f"{root} holds no images in the <Person_Name>/<Person_Name>_NNNN.jpg layout")
    return LFWDataset(root, people)


@dataclasses.dataclass(frozen=True)
class Pair:
    """One verification pair from pairs.txt (indices are 1-based, as in the file)."""

    name1: str
    index1: int
    name2: str
    index2: int
    fold: int

    @property
    def same(self) -> bool:
        return self.name1 == self.name2


def _read_lines(path: Path) -> list[str]:
    if not Path(path).is_file():
        raise DatasetError(f"protocol file {path} does not exist")
    # The official files lack a final newline and may carry stray blank lines.
    return [ln.rstrip("\r") for ln in Path(path).read_text().split("\n") if ln.strip()]


def read_pairs(path: Path | str) -> list[Pair]:
    """Parse pairs.txt (View 2: ``folds<TAB>n`` header) or pairsDevTrain/Test.txt (``n`` header).

    Each fold holds ``n`` matched pairs then ``n`` mismatched ones.
    """
    lines = _read_lines(Path(path))
    header = lines[0].split()
    folds, per_fold = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    body = lines[1:]
    if len(body) != folds * per_fold * 2:
        raise DatasetError(f"{path}: expected {folds * per_fold * 2} pairs, found {len(body)}")
    pairs = []
    for i, line in enumerate(body):
        parts = line.split("\t") if "\t" in line else line.split()
        fold = i // (2 * per_fold)
        if len(parts) == 3:
            pairs.append(Pair(parts[0], int(parts[1]), parts[0], int(parts[2]), fold))
        elif len(parts) == 4:
            pairs.append(Pair(parts[0], int(parts[1]), parts[2], int(parts[3]), fold))
        else:
            raise DatasetError(f"{path}: line {i + 2} is not a pair: {line!r}")
    return pairs


def read_people(path: Path | str) -> list[dict[str, int]]:
    """Parse people.txt (folds) or peopleDevTrain/Test.txt (one list): a list of folds, each
    mapping a name to its number of images."""
    lines = _read_lines(Path(path))
    rows = lines[1:]
    if all(len(r.split()) == 2 for r in rows):  # dev split: one fold, no count lines
        return [{r.split()[0]: int(r.split()[1]) for r in rows}]
    folds, i = [], 0
    while i < len(rows):
        count = int(rows[i])
        fold = {}
        for r in rows[i + 1:i + 1 + count]:
            name, n = r.split()
            fold[name] = int(n)
        folds.append(fold)
        i += 1 + count
    if len(folds) != int(lines[0]):
        raise DatasetError(f"{path}: header says {lines[0]} folds, found {len(folds)}")
    return folds
