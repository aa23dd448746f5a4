"""facepair against face_recognition on one album, as `bench.tag_album` and `bench.phone` run it.

Both systems know the same people from the same photos. facepair enrolls them once into a
gallery (`facepair enroll`) and each run tags the album with a fresh copy of that gallery
(`facepair tag --workers N --json`, which walks the folder tree). face_recognition's CLI
(`face_recognition --cpus N known/ flat/`, in the anchor's venv, its math libraries on one
thread each) reads a folder of known faces, one file per enrollment photo named
`<name>__<i>.jpg`, and the album as one flat folder of links, each photo's path under the album
its name with `/` written `__`. The names each gave are read back the same way for both:
{photo's path under the album: the names of its faces}, one name per named face.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench import FACEPAIR, anchor
from index.roots import Roots
from index.settings import DEFAULTS
from index.store import Store

NOT_NAMED = ("unknown_person", "no_persons_found")  # face_recognition's lines that name no one
PAGE = 1000  # album photos read from the gallery at a time


def facepair_env(home: Path) -> dict[str, str]:
    """The environment of a facepair command on the gallery at `home`."""
    return {**os.environ, "FACEPAIR_HOME": str(home)}


def enroll(home: Path, people: dict[str, list[Path]]) -> None:
    """Enroll each person from their photos into a new gallery at `home`."""
    for name, photos in people.items():
        subprocess.run([FACEPAIR, "enroll", name, *map(str, photos), "--json"],
                       env=facepair_env(home), check=True, capture_output=True)


def named_faces(home: Path, folder: Path) -> dict[str, list[str]]:
    """The names facepair's gallery at `home` gave the faces in the photos under `folder`, by
    the photo's path relative to `folder`."""
    root = folder.resolve()
    store = Store(home / "gallery.sqlite3")
    roots = Roots(store, DEFAULTS, home)
    tags: dict[str, list[str]] = {}
    try:
        offset, parts, locate = 0, roots.parts(root), roots.locator()
        while True:
            count, photos, faces = store.albums.photos_under(parts, PAGE, offset)
            paths = {p.id: Path(str(locate(p.ref))).relative_to(root) for p in photos}
            for face in faces:
                if face.name is not None:
                    tags.setdefault(str(paths[face.photo_id]), []).append(face.name)
            offset += len(photos)
            if not photos or offset >= count:
                return tags
    finally:
        store.close()


def their_names(stdout: str) -> dict[str, list[str]]:
    """The names in the face_recognition CLI's output (`path,name` a face), by the photo's
    path under the album."""
    tags: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        path, _, name = line.rpartition(",")
        if name not in NOT_NAMED:
            tags.setdefault(Path(path).name.replace("__", "/"), []).append(name.split("__")[0])
    return tags


@dataclass(frozen=True)
class Contest:
    """The folders of one contest, under `tmp`: facepair's gallery with the people enrolled,
    face_recognition's known faces and its flat copy of the album."""

    tmp: Path
    enrolled: Path
    known: Path
    flat: Path

    @classmethod
    def prepare(cls, tmp: Path, people: dict[str, list[Path]], album: Path,
                photos: Iterable[str]) -> Contest:
        """Enroll `people` (name: photos) for both systems and link the `photos` (paths under
        `album`) into face_recognition's flat folder."""
        contest = cls(tmp, tmp / "enrolled", tmp / "known", tmp / "flat")
        enroll(contest.enrolled, people)
        contest.known.mkdir()
        contest.flat.mkdir()
        for name, paths in people.items():
            for i, path in enumerate(paths):
                (contest.known / f"{name}__{i}.jpg").symlink_to(path)
        for rel in photos:
            (contest.flat / rel.replace("/", "__")).symlink_to(album / rel)
        return contest

    def fresh_home(self, label: str) -> Path:
        """A copy of the enrolled gallery for one run to tag with."""
        home = self.tmp / label
        shutil.copytree(self.enrolled, home)
        return home

    @staticmethod
    def facepair(folder: Path, workers: int) -> list[str]:
        """facepair's command: tag every photo under `folder` with `workers` workers."""
        return [FACEPAIR, "tag", str(folder), "--workers", str(workers), "--json"]

    def face_recognition(self, cpus: int) -> tuple[list[str], dict[str, str]]:
        """face_recognition's command on the flat album with `cpus` processes, and its
        environment; the anchor's venv is made on first use."""
        cli = anchor.ensure_venv().parent / "face_recognition"
        command = [str(cli), "--cpus", str(cpus), str(self.known), str(self.flat)]
        return command, anchor.thread_env(1)
