"""Frequent visitors on real LFW photos: strangers' sightings clustered one person per cluster;
merge, split and moving a face out survive a new clustering; naming a cluster enrolls the person,
and their next photo is named."""
from __future__ import annotations

import pytest

from facerec_core.gallery import GalleryStore
from facerec_core.history import SightingStore, record_sightings
from facerec_core.history.visitors import Visitors
from facerec_core.recognizer import Recognizer

VISITORS = ("Jennifer_Capriati", "Hans_Blix", "Nancy_Pelosi")  # not among the test model's people


@pytest.fixture()
def visited(trained, lfw_dir, tmp_path):
    """Sightings of three strangers, 6 photos each (their 7th kept back), recorded as ``predict`` would."""
    settings = trained[0].replace(data_dir=tmp_path / "data")
    rec = Recognizer.load(settings)
    for name in VISITORS:
        for path in sorted((lfw_dir / name).glob("*.jpg"))[:6]:
            faces = rec.recognize(path)[:1]
            assert faces[0].identity == "unknown", (path.name, faces[0].identity)
            record_sightings(settings, "cli", faces, image=rec.read_image(path), place=path.name,
                             backbone=rec.backbone.name)
    store = SightingStore.open(settings)
    visitors = Visitors(store, rec.backbone.name)
    visitors.refresh()
    return settings, rec, store, visitors


def _people(cluster):
    return {s.place.rsplit("_", 1)[0] for s in cluster.sightings}


def test_strangers_are_clustered_one_person_per_cluster(visited):
    _, _, _, visitors = visited
    clusters = visitors.clusters()
    assert all(len(_people(c)) == 1 for c in clusters)  # never two people in one cluster
    assert {next(iter(_people(c))) for c in clusters} == set(VISITORS)
    assert clusters[0].sightings[0].thumbnail


def test_merge_split_and_move_out_survive_a_new_clustering(visited):
    _, _, _, visitors = visited
    a, b = visitors.clusters()[:2]
    merged = visitors.merge([a.number, b.number])
    visitors.refresh()
    together = next(c for c in visitors.clusters() if c.number == merged)
    assert len(together) == len(a) + len(b)
    part = [s.id for s in a.sightings]
    number = visitors.split(part)
    visitors.refresh()
    assert {s.id for s in next(c for c in visitors.clusters() if c.number == number).sightings} == set(part)
    alone = part[0]
    visitors.move_out([alone])
    visitors.refresh()
    assert all(alone not in {s.id for s in c.sightings} for c in visitors.clusters())


def test_naming_a_cluster_enrolls_the_person_and_their_next_photo_is_named(visited, lfw_dir):
    settings, rec, store, visitors = visited
    cluster = next(c for c in visitors.clusters() if _people(c) == {"Hans_Blix"})
    with GalleryStore.open(settings) as gallery:
        enrolled = visitors.name(cluster, "Hans Blix", gallery)
        assert 1 <= len(enrolled) <= 5 and gallery.person("Hans Blix") is not None
    assert all(s.corrected == "enrolled as Hans Blix" for s in store.sightings() if s.place.startswith("Hans_Blix"))
    assert all(_people(c) != {"Hans_Blix"} for c in visitors.clusters())
    [face] = Recognizer.load(settings).recognize(sorted((lfw_dir / "Hans_Blix").glob("*.jpg"))[6])[:1]
    assert face.identity == "Hans Blix", face.reason
