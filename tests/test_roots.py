"""Album photos kept by root: a gallery of absolute paths converted (SQLite and PostgreSQL),
roots placed by the settings or registered by `tag`, and two hosts that mount one library at
different places seeing the same photos as tagged."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from faces.errors import FacepairError
from index.album.jobs import status
from index.album.tagger import AlbumTagger
from index.gallery import Gallery
from index.roots import Roots
from index.settings import DEFAULTS, IndexSettings, parse_roots
from index.store import PhotoRef, Store
from index.store.database import MIGRATIONS, url_of

WHEN = "2026-11-30T10:00:00+00:00"


def old_gallery(location: str) -> None:
    """A store at revision 0003, whose album jobs and photos are kept by absolute path: two
    jobs of sibling folders, one of a folder inside another job's, a photo of no job's
    folder, and two folders of one base name."""
    engine = create_engine(url_of(location))
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        jobs = [(1, "/mnt/photos/2019"), (2, "/mnt/photos/2020"), (3, "/mnt/photos/2020/june"),
                (4, "/srv/other/2019")]
        conn.execute(text(
            "INSERT INTO album_jobs (id, root, status, created, updated) "
            "VALUES (:i, :r, 'done', :w, :w)"), [{"i": i, "r": r, "w": WHEN} for i, r in jobs])
        photos = [(1, "/mnt/photos/2019/a.jpg", 1), (2, "/mnt/photos/2020/june/b.jpg", 3),
                  (3, "/mnt/photos/2020/c.jpg", 2), (4, "/home/ann/loose/d.jpg", 1),
                  (5, "/srv/other/2019/e.jpg", 4)]
        conn.execute(text(
            "INSERT INTO album_photos (id, path, size, mtime, sha256, width, height, model, "
            "job_id, tagged) VALUES (:i, :p, 10, 1.5, :s, 64, 48, 'm', :j, :w)"),
            [{"i": i, "p": p, "s": f"{i}" * 64, "j": j, "w": WHEN} for i, p, j in photos])
        conn.execute(text(
            "INSERT INTO album_faces (photo_id, box, landmarks, score, chip, chip_landmarks, "
            "model, vector) VALUES (2, '[1, 2, 3, 4]', '[]', 0.9, :c, '[]', 'm', :v)"),
            {"c": b"chip", "v": b"\0" * 32})
        conn.execute(text(
            "INSERT INTO album_problems (job_id, path, problem, detail) VALUES "
            "(2, '/mnt/photos/2020/x.jpg', 'unreadable', 'gone')"))
    engine.dispose()


def test_a_gallery_of_absolute_paths_gets_roots(store_location: str) -> None:
    old_gallery(store_location)
    store = Store(store_location)
    roots = {r.name: r for r in store.roots.all()}
    # the jobs' folders, the outer one of two nested; a photo of no job's folder: its own
    assert {n: r.hint for n, r in roots.items()} == {
        "2019": "/mnt/photos/2019", "2020": "/mnt/photos/2020", "loose": "/home/ann/loose",
        "2019-2": "/srv/other/2019"}
    count, photos, _ = store.albums.photos_under([(r.id, "") for r in roots.values()], 10, 0)
    assert count == 5 and sorted(p.shown for p in photos) == [
        "2019-2:e.jpg", "2019:a.jpg", "2020:c.jpg", "2020:june/b.jpg", "loose:d.jpg"]
    inner = store.jobs.get(3)
    assert inner is not None and (inner.root, inner.folder) == ("2020", "june")
    assert store.albums.state(PhotoRef(roots["2020"].id, "june/b.jpg")) is not None
    face = store.albums.face(1)
    assert (face.root, face.path, face.shown) == ("2020", "june/b.jpg", "2020:june/b.jpg")
    assert [p.path for p in store.jobs.problems(2)[1]] == ["2020:x.jpg"]
    store.close()


def test_the_roots_setting() -> None:
    assert parse_roots(" family=/mnt/photos, work = /srv/work ,") == {
        "family": Path("/mnt/photos"), "work": Path("/srv/work")}
    for bad in ("family", "=/mnt", "a:b=/mnt", "family=relative", "a=/x,a=/y"):
        with pytest.raises(ValueError):
            parse_roots(bad)


def test_folders_outside_every_root_become_roots(tmp_path: Path) -> None:
    """A folder inside no root is registered as one, named after it and unique, remembered
    in this host's home; a folder inside one is that root's; a path out of a root is
    refused."""
    home, store = tmp_path / "home", Store(tmp_path / "gallery.sqlite3")
    roots = Roots(store, DEFAULTS, home)
    first, second = tmp_path / "a" / "photos", tmp_path / "b" / "photos"
    (first / "2020").mkdir(parents=True)
    second.mkdir(parents=True)
    with pytest.raises(FacepairError) as refused:
        roots.place(first)
    assert refused.value.code == "outside_roots"
    assert roots.place(first, register=True).shown == "photos"
    assert roots.place(second, register=True).shown == "photos-2"
    assert roots.place(first / "2020").shown == "photos:2020"
    assert roots.place("photos-2:").root.name == "photos-2"
    assert json.loads((home / "roots.json").read_text()) == {
        "photos": str(first.resolve()), "photos-2": str(second.resolve())}
    assert not [f for f in home.iterdir() if f.name.startswith(".roots-")]  # no leftovers
    assert roots.file(PhotoRef(roots.place(first).root.id, "2020/a.jpg")) == (
        first.resolve() / "2020" / "a.jpg")
    assert roots.file(PhotoRef(roots.place(first).root.id, "../secret.jpg")) is None
    with pytest.raises(FacepairError) as unknown:
        roots.place("nowhere:2020")
    assert unknown.value.code == "unknown_root"
    # a folder holding a root becomes one too; what lies in the inner root stays the inner's
    outer = roots.place(tmp_path / "a", register=True).root
    find = roots.finder()
    inner = find(first.resolve() / "2020" / "b.jpg")
    assert inner is not None and inner.shown == "photos:2020/b.jpg"
    assert roots.parts(tmp_path / "a") == [(outer.id, ""), (inner.root.id, "")]
    # renamed, in the store and in this host's file
    with pytest.raises(FacepairError) as taken:
        roots.rename("a", "photos")
    assert taken.value.code == "conflict"
    assert roots.rename("a", "outer").name == "outer"
    assert roots.place(tmp_path / "a").shown == "outer"
    assert json.loads((home / "roots.json").read_text())["outer"] == str(
        (tmp_path / "a").resolve())
    roots.rename("outer", "a")
    # another host (a home of its own) places "photos" elsewhere; "photos-2" it finds at
    # the folder it was first found at
    elsewhere = tmp_path / "c"
    elsewhere.mkdir()
    there = Roots(store, IndexSettings(roots=f"photos={elsewhere}"), tmp_path / "other")
    assert [(r["name"], r["folder"], r["source"]) for r in there.listing()] == [
        ("a", str((tmp_path / "a").resolve()), "hint"),
        ("photos", str(elsewhere.resolve()), "setting"),
        ("photos-2", str(second.resolve()), "hint")]
    store.close()


@pytest.fixture(scope="module")
def library(tmp_path_factory, lfw_dir: Path) -> Path:
    """A small photo library: a few LFW photos in two folders."""
    root = tmp_path_factory.mktemp("library") / "family"
    for i, person in enumerate(("Ann_Veneman", "Colin_Powell", "George_W_Bush")):
        folder = root / ("2019" if i % 2 else "2020")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(lfw_dir / person / f"{person}_0001.jpg", folder / f"{person}.jpg")
    return root


def host(tmp_path: Path, location: str, name: str, roots: str, detector) -> Gallery:
    """The gallery as one host sees it: the shared store, its own home and roots."""
    from faces.embed import Embedder

    settings = IndexSettings(store=location, roots=roots)
    return Gallery(settings, home=tmp_path / name, detector=detector, embedder=Embedder())


def test_two_hosts_mounting_one_library_at_different_places_agree(
        tmp_path: Path, store_location: str, library: Path, lfw_dir: Path, detector) -> None:
    """Host A has the library at dirA, host B the same files (same bytes and times) at
    dirB: B's tagging finds every photo as A tagged it, and shows, serves and writes beside
    them at its own place."""
    dir_a, dir_b = tmp_path / "dirA", tmp_path / "mnt" / "dirB"
    shutil.copytree(library, dir_a)
    dir_b.parent.mkdir()
    shutil.copytree(dir_a, dir_b)
    for photo in dir_a.rglob("*.jpg"):
        st = photo.stat()
        os.utime(dir_b / photo.relative_to(dir_a), ns=(st.st_atime_ns, st.st_mtime_ns))
    a = host(tmp_path, store_location, "a", f"family={dir_a}", detector)
    bush = a.enroll("Bush", lfw_dir / "George_W_Bush" / "George_W_Bush_0002.jpg").person_id
    first = AlbumTagger(a, workers=1).run(dir_a)
    assert (first["root"], first["photos"], first["unchanged"]) == ("family", 3, 0)
    a.close()

    b = host(tmp_path, store_location, "b", f"family={dir_b}", detector)
    again = AlbumTagger(b, workers=1).run(dir_b)
    assert (again["photos"], again["unchanged"], again["failed"]) == (0, 3, 0)
    sub = AlbumTagger(b, workers=1).run("family:2020")  # a folder inside the root, by name
    assert (sub["root"], sub["photos"], sub["unchanged"]) == ("family:2020", 0, 2)
    assert status(b, sub["job"]).path == "family:2020"
    count, photos, _ = b.store.albums.photos_under(b.roots.parts(dir_b / "2020"), 10, 0)
    assert count == 2 and b.store.albums.counts()["album_photos"] == 3  # no duplicates
    assert {str(b.roots.file(p.ref)) for p in photos} == {
        str(dir_b.resolve() / "2020" / f"{n}.jpg") for n in ("Ann_Veneman", "George_W_Bush")}
    assert [r.name for r in b.store.roots.all()] == ["family"]
    assert not (tmp_path / "b" / "roots.json").exists()  # a root of the settings
    # XMP goes beside the photo at this host's place
    [where] = b.store.albums.paths_of(bush)
    assert b.sync_sidecars([where], create=True) == (1, [])
    assert (dir_b / "2020" / "George_W_Bush.jpg.xmp").is_file()
    assert not list(dir_a.rglob("*.xmp"))
    b.close()
