"""LFW folder scanning and the official protocol files."""
import pytest

from facerec_core.errors import DatasetError
from facerec_core.lfw import image_path, read_pairs, read_people, scan_lfw


@pytest.fixture(scope="module")
def lfw(lfw_dir):
    return scan_lfw(lfw_dir)


def test_scan_counts_match_the_published_ones(lfw):
    assert lfw.n_people == 5749 and lfw.n_images == 13233
    kept = lfw.filter_min_images(2)
    assert kept.n_people == 1680 and kept.n_images == 9164
    assert lfw.image_counts()["George_W_Bush"] == 530
    paths, labels = kept.only(["Colin_Powell"]).samples()
    assert len(paths) == 236 and set(labels) == {"Colin_Powell"}
    assert paths[0].name == "Colin_Powell_0001.jpg"


def test_scan_ignores_files_outside_the_layout(tmp_path):
    (tmp_path / "Jane_Doe").mkdir()
    (tmp_path / "Jane_Doe" / "Jane_Doe_0002.jpg").write_bytes(b"x")
    (tmp_path / "Jane_Doe" / "Jane_Doe_0001.jpg").write_bytes(b"x")
    (tmp_path / "Jane_Doe" / "notes.txt").write_text("x")
    (tmp_path / "Jane_Doe" / "John_Roe_0001.jpg").write_bytes(b"x")
    (tmp_path / "README").write_text("x")
    ds = scan_lfw(tmp_path)
    assert [p.name for p in ds.people["Jane_Doe"]] == ["Jane_Doe_0001.jpg", "Jane_Doe_0002.jpg"]


def test_scan_errors(tmp_path):
    with pytest.raises(DatasetError, match="FACEREC_LFW_DIR"):
        scan_lfw(None)
    with pytest.raises(DatasetError, match="does not exist"):
        scan_lfw(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no images"):
        scan_lfw(tmp_path)


def test_pairs_view2(lfw_protocol_dir, lfw_dir):
    pairs = read_pairs(lfw_protocol_dir / "pairs.txt")
    assert len(pairs) == 6000 and sum(p.same for p in pairs) == 3000
    assert {p.fold for p in pairs} == set(range(10))
    assert all(sum(p.same for p in pairs if p.fold == k) == 300 for k in range(10))
    first = pairs[0]
    assert image_path(lfw_dir, first.name1, first.index1).is_file()


def test_dev_pairs_and_people(lfw_protocol_dir):
    assert len(read_pairs(lfw_protocol_dir / "pairsDevTrain.txt")) == 2200
    assert len(read_pairs(lfw_protocol_dir / "pairsDevTest.txt")) == 1000
    folds = read_people(lfw_protocol_dir / "people.txt")
    assert len(folds) == 10 and sum(len(f) for f in folds) == 5749
    assert sum(sum(f.values()) for f in folds) == 13233
    assert len(read_people(lfw_protocol_dir / "peopleDevTrain.txt")[0]) == 4038


def test_malformed_protocol(tmp_path):
    bad = tmp_path / "pairs.txt"
    bad.write_text("1\t2\nA\t1\t2\n")
    with pytest.raises(DatasetError, match="expected 4 pairs"):
        read_pairs(bad)
    with pytest.raises(DatasetError, match="does not exist"):
        read_pairs(tmp_path / "missing.txt")
