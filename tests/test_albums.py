"""Album tagging on an album built from LFW DevTest photos with ground truth (bench/album.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.album import ENROLL, KNOWN, STRANGERS, build_album, lfw, precision_recall
from faces.tags import read_tags
from index.album.clusters import cluster_unknown, clusters, name_cluster
from index.album.tagger import AlbumTagger
from index.clustering import ClusterHelper
from index.gallery import Gallery
from index.report import write_report
from index.store import Store

FACEPAIR = str(Path(sys.executable).parent / "facepair")


@pytest.fixture(scope="module")
def album(tmp_path_factory, lfw_dir) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("album") / "photos"
    return root, build_album(root)


@pytest.fixture
def gallery(tmp_path: Path, detector):
    from faces.embed import Embedder

    g = Gallery(home=tmp_path / "home", detector=detector, embedder=Embedder())
    for name in KNOWN:
        for i in ENROLL:
            g.enroll(name, lfw(name, i), face="center")
    yield g
    g.close()


def running_with(argument: str) -> list[int]:
    """Processes whose command line holds `argument` (Linux: /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if argument.encode() in cmdline.read_bytes().split(b"\0"):
                found.append(int(cmdline.parent.name))
        except OSError:  # gone meanwhile
            continue
    return found


def hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".xmp"}


def photos_recorded(path: Path) -> int:
    """How many album photos the gallery at `path` holds (read as another process sees it)."""
    store = Store(path)
    try:
        return store.albums.counts()["album_photos"]
    finally:
        store.close()


def tags(g: Gallery, root: Path) -> dict[str, list[str]]:
    _, photos, faces = g.store.albums.photos_under(g.roots.parts(root), limit=1_000_000,
                                                   offset=0)
    found: dict[str, list[str]] = {}
    for p in photos:
        file = g.roots.file(p.ref)
        assert file is not None
        found[str(file.relative_to(root.resolve()))] = [
            f.name for f in faces if f.photo_id == p.id and f.name]
    return found


def exiftool(path: Path) -> dict:
    out = subprocess.run(["exiftool", "-j", "-RegionName", "-RegionAreaX", "-RegionAreaY",
                          "-RegionAreaW", "-RegionAreaH", "-PersonInImage", "-Rating",
                          "-RegionPersonDisplayName", "-RegionRectangle", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool (apt: "
                    "libimage-exiftool-perl; `make system-deps` installs it)")
def test_tag_names_xmp_clusters_and_report(gallery: Gallery, album, tmp_path: Path) -> None:
    root, truth = album
    work = tmp_path / "album"
    shutil.copytree(root, work)
    # a sidecar another program wrote before: it must be merged, not overwritten
    first = next(rel for rel, names in truth.items() if names and rel.endswith(".jpg"))
    (work / (first + ".xmp")).write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-'
        'rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmp:Rating="4"/></rdf:RDF></x:xmpmeta>')
    before = hashes(work)
    result = AlbumTagger(gallery, workers=1, xmp=True).run(work)
    assert result["photos"] == len(truth) and result["skipped"] == 1 and result["failed"] == 0
    assert hashes(work) == before  # originals untouched
    # the sidecars facepair wrote are its own: the next run reads no photo again for them
    again = AlbumTagger(gallery, workers=1, xmp=True).run(work)
    assert (again["photos"], again["unchanged"]) == (0, len(truth))

    figures = precision_recall(truth, tags(gallery, work))
    assert figures["precision"] >= 0.9 and figures["recall"] >= 0.8, figures

    merged = exiftool(work / (first + ".xmp"))
    assert merged["Rating"] == 4 and truth[first][0] in as_list(merged["RegionName"])
    group = next(rel for rel in truth if rel.startswith("parties/") and len(truth[rel]) == 3)
    meta = exiftool(work / (group + ".xmp"))
    assert set(as_list(meta["PersonInImage"])) == set(truth[group])
    xs = [float(x) for x in as_list(meta["RegionAreaX"])]
    names = as_list(meta["RegionName"])
    from PIL import Image
    width = Image.open(work / group).width
    for name, x in zip(names, xs, strict=True):  # each name over its own third of the photo
        part = int(x * width) // 170
        assert truth[group].count(name) == 1 and 0 <= part < 3
    assert sorted(as_list(meta["RegionName"])) == sorted(truth[group])
    # the same faces as Microsoft regions (left, top, width, height), as digiKam writes both
    assert as_list(meta["RegionPersonDisplayName"]) == names
    rectangles = [float(v) for r in as_list(meta["RegionRectangle"]) for v in str(r).split(",")]
    for i, x in enumerate(xs):
        left, w = rectangles[4 * i], rectangles[4 * i + 2]
        assert abs(left + w / 2 - x) < 1e-4
    assert read_tags(work / group).faces == []  # facepair's own regions are no user's tags
    assert not (work / "others" / f"{STRANGERS[0]}_1.jpg.xmp").exists()  # no names, no sidecar

    groups = clusters(gallery)
    by_stranger = {}
    for g in groups:
        people = {Path(p).name.rsplit("_", 1)[0] for p in g["examples"]}
        if len(people) == 1:
            by_stranger[people.pop()] = g
    assert {STRANGERS[0], STRANGERS[1]} <= set(by_stranger), groups
    celine = by_stranger[STRANGERS[0]]
    named = name_cluster(gallery, celine["id"], "Céline")
    assert named["person"]["faces"] == celine["faces"] >= 2
    assert named["sidecars_written"] == celine["photos"]
    again = exiftool(work / "others" / f"{STRANGERS[0]}_1.jpg.xmp")
    assert as_list(again["PersonInImage"]) == ["Céline"]
    (m,) = [m for m in gallery.identify(lfw(STRANGERS[0], 5)) if m.person]
    assert m.person.name == "Céline"

    # deleting someone for good takes their name out of the sidecars facepair wrote
    person = gallery.find_person(truth[group][0])
    assert gallery.delete_person(person.id).sidecars_scrubbed >= 1
    scrubbed = exiftool(work / (group + ".xmp"))
    assert person.name not in as_list(scrubbed.get("PersonInImage", []))
    assert person.name not in as_list(scrubbed.get("RegionName", []))
    assert person.name not in as_list(scrubbed.get("RegionPersonDisplayName", []))
    assert exiftool(work / (first + ".xmp"))["Rating"] == 4

    page = write_report(gallery, tmp_path / "report.html")
    text = Path(page["report"]).read_text()
    shown = sum(f.name is not None or f.cluster is not None for f in gallery.store.albums.report())
    assert text.count("data:image/jpeg;base64,") == shown >= result["named"] - 10
    assert "Céline" in text and "Unknown cluster" in text and "<script" not in text


def test_rerun_skips_unchanged_and_redoes_changed(gallery: Gallery, album, tmp_path) -> None:
    root, truth = album
    work = tmp_path / "album"
    shutil.copytree(root, work)
    generation = gallery.store.changes.head()
    with ClusterHelper() as helper:  # forked workers (on a CPU), clusters from the helper
        first = AlbumTagger(gallery, workers=2, clusterer=helper).run(work)
    assert first["photos"] == len(truth) and first["failed"] == 0 and first["named"] > 0
    def grouped() -> dict[int, list[int]]:
        return {c.id: gallery.store.clusters.face_ids(c.id) for c in gallery.store.clusters.all()}

    by_helper = grouped()
    assert first["clusters"] >= 2 and cluster_unknown(gallery) == first["clusters"]
    assert grouped() == by_helper  # same clusters here
    # album bookkeeping leaves the gallery, and so its search index, alone
    assert gallery.store.changes.head() == generation
    again = AlbumTagger(gallery, workers=1).run(work)
    assert again["photos"] == 0 and again["unchanged"] == first["photos"]
    touched, changed = work / sorted(truth)[0], work / sorted(truth)[1]
    os.utime(touched, (time.time() + 5, time.time() + 5))  # touched, same bytes
    shutil.copy(lfw(STRANGERS[2], 1), changed)  # new content
    third = AlbumTagger(gallery, workers=1).run(work)
    assert third["photos"] == 1 and third["unchanged"] == len(truth) - 1


def test_kill_9_midway_then_resume_without_redoing(gallery: Gallery, album, tmp_path) -> None:
    root, truth = album
    work = tmp_path / "album"
    shutil.copytree(root, work)
    home = gallery.home
    gallery.close()
    env = {**os.environ, "FACEPAIR_HOME": str(home), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([FACEPAIR, "tag", str(work), "--workers", "2", "--json"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = home / "gallery.sqlite3"
    done, deadline = 0, time.monotonic() + 300
    while time.monotonic() < deadline and child.poll() is None:
        done = photos_recorded(store)
        if done >= 8:
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.2)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL and 8 <= done < len(truth)
    # nothing of the killed run lingers: its workers and its clustering helper see it gone
    deadline = time.monotonic() + 30
    while (left := running_with(str(work))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left
    done = photos_recorded(store)
    resumed = subprocess.run([FACEPAIR, "tag", str(work), "--workers", "1", "--json"], env=env,
                             capture_output=True, text=True, check=True)
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result["unchanged"] == done and result["photos"] == len(truth) - done
    reopened = Store(store)  # the killed command's job does not stay "running"
    jobs = [reopened.jobs.get(i) for i in range(1, result["job"] + 1)]
    reopened.close()
    assert [j.status for j in jobs if j is not None] == ["interrupted", "done"]


def test_merging_keeps_the_album_faces_of_both_people(gallery: Gallery, album,
                                                      tmp_path) -> None:
    """Merging two people moves the merged person's album faces to the one kept (they used
    to go with the merged person's row)."""
    root, _ = album
    work = tmp_path / "album"
    shutil.copytree(root, work)
    AlbumTagger(gallery, workers=1).run(work)
    def count(person_id: int) -> int:
        return len(gallery.store.albums.faces_named(person_id, limit=1_000_000))

    first, second = (gallery.find_person(n) for n in KNOWN[:2])
    named = [count(p.id) for p in (first, second)]
    assert named[1] > 0
    total = gallery.store.albums.counts()["album_faces"]
    gallery.merge(first.id, second.id)
    assert count(first.id) == sum(named)
    assert gallery.store.albums.counts()["album_faces"] == total


def test_a_symlink_at_the_temporary_sidecar_is_not_written_through(tmp_path: Path,
                                                                    lfw_dir: Path) -> None:
    """A symlink planted at `<photo>.xmp.tmp` used to make the writer overwrite its target
    outside the album; the target is left alone and the sidecar is written."""
    from index.xmp import Region, sidecar_path, sync_sidecar

    album, outside = tmp_path / "album", tmp_path / "outside.txt"
    album.mkdir()
    outside.write_text("someone else's file")
    photo = album / "a.jpg"
    shutil.copy(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg", photo)
    (album / "a.jpg.xmp.tmp").symlink_to(outside)
    sync_sidecar(photo, [Region("Aaron Eckhart", 0.5, 0.5, 0.3, 0.4, person=1)], 250, 250)
    assert outside.read_text() == "someone else's file"
    assert "Aaron Eckhart" in sidecar_path(photo).read_text()
    assert not (album / "a.jpg.xmp.tmp").exists()


def test_a_broken_link_in_an_album_fails_alone(gallery: Gallery, album, tmp_path) -> None:
    """A broken symlink used to stop the scan before the job's error handling: the job stayed
    "queued" for ever. It counts as one failed photo; the others are tagged."""
    root, truth = album
    work = tmp_path / "album"
    shutil.copytree(root, work)
    (work / "broken.jpg").symlink_to(tmp_path / "nowhere.jpg")
    result = AlbumTagger(gallery, workers=1).run(work)
    assert result["status"] == "done" and result["failed"] == 1
    assert result["photos"] == len(truth)
    job = gallery.store.jobs.get(result["job"])
    assert job is not None
    assert (job.status, job.failed, job.done, job.total) == ("done", 1, len(truth) + 1,
                                                              len(truth) + 1)


def test_sidecars_follow_rename_merge_delete_and_the_users_regions_win(
        gallery: Gallery, album, tmp_path) -> None:
    """facepair finds its own regions by person id: a rename rewrites them, a merge moves
    them, a delete removes them, and nothing else in the sidecar changes. A region the user
    drew at one of our faces keeps its name (the disagreement is reported), and a sidecar that
    does not parse is reported and left as it is."""
    from index.album.jobs import status as job
    from index.xmp import read_regions, sidecar_path

    root, truth = album
    work = tmp_path / "album"
    shutil.copytree(root, work)
    broken = next(rel for rel, names in truth.items() if names)
    sidecar_path(work / broken).write_bytes(b"<x:xmpmeta><rdf:RDF")  # cut off
    result = AlbumTagger(gallery, workers=1, xmp=True).run(work)
    state = job(gallery, result["job"])
    # its tags cannot be read, and it is not written
    assert sorted((p["problem"], p["path"]) for p in state.model_dump()["first_problems"]) == [
        ("sidecar_left_alone", f"album:{broken}"),
        ("tags_unreadable", f"album:{sidecar_path(Path(broken)).as_posix()}")]
    assert sidecar_path(work / broken).read_bytes() == b"<x:xmpmeta><rdf:RDF"

    def named(rel: str) -> list[tuple[str, int | None]]:
        return sorted((r.name, r.person) for r in read_regions(sidecar_path(work / rel)))

    written = {rel for rel in truth if rel != broken and sidecar_path(work / rel).exists()}
    a, b = (gallery.find_person(n) for n in KNOWN[:2])
    with_a = [rel for rel in written if any(p == a.id for _, p in named(rel))]
    with_b = [rel for rel in written if any(p == b.id for _, p in named(rel))]
    assert with_a and with_b
    # the user names one of facepair's faces otherwise, in their photo manager
    mine = with_a[0]
    text = sidecar_path(work / mine).read_text()
    ours = next(r for r in read_regions(sidecar_path(work / mine)) if r.person == a.id)
    theirs = (f'<rdf:li><rdf:Description xmlns:mwg-rs="http://www.metadataworkinggroup.com/'
              f'schemas/regions/" xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" '
              f'mwg-rs:Name="Grandma" mwg-rs:Type="Face"><mwg-rs:Area stArea:x="{ours.x}" '
              f'stArea:y="{ours.y}" stArea:w="{ours.w}" stArea:h="{ours.h}" '
              f'stArea:unit="normalized"/></rdf:Description></rdf:li>')
    sidecar_path(work / mine).write_text(text.replace("<rdf:Bag>", "<rdf:Bag>" + theirs, 1))

    gallery.update_person(a.id, name="Ann <the> & Co")
    for rel in with_a:
        regions = named(rel)
        assert (a.name, a.id) not in regions
        assert ("Ann <the> & Co", a.id) in regions or rel == mine
    assert ("Grandma", None) in named(mine) and all(p != a.id for _, p in named(mine))

    gallery.merge(a.id, b.id)
    for rel in with_b:
        assert all(n != b.name and p != b.id for n, p in named(rel))
        assert ("Ann <the> & Co", a.id) in named(rel)
    assert gallery.delete_person(a.id).sidecars_scrubbed >= len(set(with_a + with_b)) - 1
    for rel in written:
        assert all(p not in (a.id, b.id) for _, p in named(rel)), rel
        assert "Ann <the> &amp; Co" not in sidecar_path(work / rel).read_text()
    assert ("Grandma", None) in named(mine)
    assert sidecar_path(work / broken).read_bytes() == b"<x:xmpmeta><rdf:RDF"


def test_a_small_face_of_a_large_photo_is_aligned_from_the_photo_in_full(gallery: Gallery,
                                                                          tmp_path: Path) -> None:
    """A 12-megapixel JPEG is decoded at half size for detection; a face too small there to
    fill the model's input is cut from its part of the photo at full size, a large one from
    the reduced photo."""
    import numpy as np

    from faces.decode import decode, decode_reduced
    from index.album.analyse import analyse, lend_to_workers
    from index.album.scan import NOWHERE, PhotoFile
    from tests.test_decode import phone_photo

    lend_to_workers(gallery)
    embedder = gallery.embedder
    for face_px, from_full in ((90, True), (600, False)):
        path = tmp_path / f"phone_{face_px}.jpg"
        phone_photo(lfw(KNOWN[0], 5), path, face_px)
        (item,) = analyse([PhotoFile(str(path), path.stat().st_size, path.stat().st_mtime, "",
                                     NOWHERE, path.name)])
        assert item.error is None and (item.width, item.height) == (4032, 3024)
        (face,) = item.faces  # in the full photo's coordinates
        assert abs(face.size - face_px) < 0.35 * face_px
        full = decode(path)
        half = decode_reduced(path, 1600)  # the JPEG's own half-size decode (DCT scaling)
        assert half.scale == 2.0
        in_full = embedder.embed_crops(embedder.crops_at(full, [face.landmarks]))[0]
        in_half = embedder.embed_crops(embedder.crops_at(half.image, [face.landmarks / 2]))[0]
        got = item.vectors[0]
        expected, other = (in_full, in_half) if from_full else (in_half, in_full)
        # the full photo's part gives the full photo's crop, up to OpenCV's fixed-point warp
        assert float(got @ expected) > max(0.999, float(got @ other) + 1e-4), face_px
        assert np.isfinite(got).all()
