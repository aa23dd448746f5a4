"""Roots on this host: where each photo library by name (`store.roots`) lives here, and which
root and path inside it a folder or photo of this host is.

The store keeps album photos as a root and a path inside it (POSIX separators); where a root's
folder is on a host is that host's own business, so hosts that mount one library at
different places (`/mnt/photos` on one, `/srv/family` on another) agree on which photo is
which. A root's folder here is, in this order:

1. the settings' `roots` (`FACEPAIR_ROOTS=family=/mnt/photos,work=/srv/work`);
2. `FACEPAIR_HOME/roots.json`, where a folder tagged outside every root was registered as a
   root of its own (named after the folder, made unique);
3. the root's hint (the folder it was first found at), where that is a folder here.

A folder inside two roots' folders belongs to the innermost one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from faces.errors import NotFound
from index.errors import Conflict, Refused
from index.files import write_whole
from index.settings import ROOT_NAME_FORBIDS, IndexSettings
from index.store import PhotoRef, Root, Store, shown

HOME_FILE = "roots.json"
SOURCES = ("setting", "home", "hint")  # where a root's folder here was learnt, first wins
Part = tuple[int, str]  # a root's id and a folder inside it ("": all of it)


@dataclass(frozen=True)
class Place:
    """A root and a path inside it (POSIX; "" for the root itself)."""

    root: Root
    path: str

    @property
    def shown(self) -> str:
        return shown(self.root.name, self.path)

    @property
    def part(self) -> Part:
        return self.root.id, self.path

    @property
    def ref(self) -> PhotoRef:
        return PhotoRef(self.root.id, self.path)


@dataclass(frozen=True)
class Here:
    """A root whose folder is on this host, and where that was learnt (`SOURCES`)."""

    root: Root
    folder: Path
    source: str


def inside(path: str) -> str:
    """A path inside a root as stored: relative, POSIX, without `.` or `..` parts; refuses
    one that would leave its root."""
    pure = PurePosixPath(path.replace(os.sep, "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise Refused("outside_roots", f"{path}: not a path inside a root")
    return "" if str(pure) == "." else pure.as_posix()


class Roots:
    """This host's view of the store's roots: a snapshot is read for each question."""

    def __init__(self, store: Store, settings: IndexSettings, home: Path) -> None:
        self.store, self.settings = store, settings
        self.home_file = Path(home) / HOME_FILE

    # -- where roots live here ----------------------------------------------------------------

    def remembered(self) -> dict[str, Path]:
        """The roots registered on this host (`FACEPAIR_HOME/roots.json`): name → folder."""
        try:
            data = json.loads(self.home_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise Refused("roots_unreadable", f"{self.home_file}: cannot be read ({exc})") from exc
        return {str(k): Path(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def here(self) -> list[Here]:
        """The roots whose folder is on this host, innermost first. The settings' roots are
        made in the store on the way, where they are new."""
        configured = self.settings.root_folders()
        roots = {r.name: r for r in self.store.roots.all()}
        for name, folder in configured.items():
            if name not in roots:
                made = self.store.roots.get_or_add(name, str(folder))
                roots[name] = self.store.roots.get(made) or Root(made, name, "", str(folder))
        remembered = self.remembered()
        found = []
        for name, root in roots.items():
            if name in configured:
                found.append(Here(root, _resolved(configured[name]), "setting"))
            elif name in remembered:
                found.append(Here(root, _resolved(remembered[name]), "home"))
            elif root.hint and Path(root.hint).is_dir():
                found.append(Here(root, _resolved(Path(root.hint)), "hint"))
        return sorted(found, key=lambda h: (-len(h.folder.parts), SOURCES.index(h.source),
                                            h.root.id))

    def listing(self) -> list[dict[str, object]]:
        """Every root: its id, name and hint, and its folder here (None: not on this host)
        with where that was learnt."""
        here = {h.root.id: h for h in self.here()}
        return [{"id": r.id, "name": r.name, "created": r.created, "hint": r.hint,
                 "folder": str(here[r.id].folder) if r.id in here else None,
                 "source": here[r.id].source if r.id in here else None}
                for r in self.store.roots.all()]

    def folder_of(self, root_id: int) -> Path | None:
        """A root's folder on this host (None: it is not here)."""
        return next((h.folder for h in self.here() if h.root.id == root_id), None)

    def locator(self) -> Callable[[PhotoRef], Path | None]:
        """A photo's file on this host from one snapshot of the roots (None: its root is not
        here, or its path would leave the root)."""
        folders = {h.root.id: h.folder for h in self.here()}

        def locate(ref: PhotoRef) -> Path | None:
            folder = folders.get(ref.root_id)
            try:
                return None if folder is None else folder / inside(ref.path)
            except Refused:
                return None
        return locate

    def file(self, ref: PhotoRef) -> Path | None:
        """A photo's file on this host (`locator`)."""
        return self.locator()(ref)

    # -- which root a folder is in ------------------------------------------------------------

    def finder(self) -> Callable[[Path], Place | None]:
        """The root a path of this host (resolved) lies in, innermost first, from one snapshot
        of the roots; None: in none."""
        here = self.here()
        return lambda path: _find(here, path)

    def place(self, folder: Path | str, register: bool = False) -> Place:
        """The root and path of a folder: a folder of this host, or `name:path` (a root by
        name). A folder of this host inside no root is registered as one with `register`,
        refused otherwise."""
        text = str(folder)
        named = self.named(text)
        if named is not None:
            return named
        path = _resolved(Path(text).expanduser())
        found = self.finder()(path)
        if found is not None:
            return found
        if not register:
            raise Refused("outside_roots", f"{text} is inside no root (`facepair roots list`; "
                          "FACEPAIR_ROOTS)")
        if not path.is_dir():
            raise NotFound(f"{text}: no such folder")
        return Place(self.register(path), "")

    def named(self, text: str) -> Place | None:
        """`name:path`, a path inside a root by its name; None where `text` is not that form
        (an absolute path, or no root of that name)."""
        name, sep, rest = text.partition(":")
        if not sep or not name or any(c in name for c in "/\\~") or text.startswith("."):
            return None
        root = next((r for r in self.store.roots.all() if r.name == name), None)
        if root is None:
            if Path(text).expanduser().exists():
                return None
            raise Refused("unknown_root", f"no root named {name!r} (`facepair roots list`)")
        return Place(root, inside(rest))

    def local(self, place: Place) -> Path:
        """A place's folder or file on this host; refused where its root is not here."""
        folder = self.folder_of(place.root.id)
        if folder is None:
            raise Refused("root_not_here", f"root {place.root.name!r} has no folder on this "
                          "host (FACEPAIR_ROOTS)")
        return folder / place.path if place.path else folder

    def parts(self, where: Path | str | Place) -> list[Part]:
        """The parts of roots that hold the photos under a folder (of this host, `name:path`
        or a place): the root it is in (and the folder inside it), and every root whose
        folder here is inside it."""
        place = where if isinstance(where, Place) else self.named(str(where))
        here = self.here()  # one snapshot of the roots for all of it
        if place is not None:
            folder = next((h.folder for h in here if h.root.id == place.root.id), None)
            if folder is None:
                return [place.part]
            path = folder / place.path if place.path else folder
        else:
            path = _resolved(Path(str(where)))
        found = place or _find(here, path)
        parts = [found.part] if found is not None else []
        return parts + [(h.root.id, "") for h in here
                        if h.folder != path and path in h.folder.parents]

    # -- registering --------------------------------------------------------------------------

    def rename(self, old: str, new: str) -> Root:
        """A root's new name, in the store and in this host's `roots.json` (other hosts
        that place it by the old name in their settings follow by theirs)."""
        new = new.strip()
        if not new or any(c in ROOT_NAME_FORBIDS for c in new):
            raise Refused("invalid_name", f"{new!r}: a root's name is not empty and holds none "
                          f"of {ROOT_NAME_FORBIDS!r}")
        root = next((r for r in self.store.roots.all() if r.name == old), None)
        if root is None:
            raise Refused("unknown_root", f"no root named {old!r} (`facepair roots list`)")
        with self._locked() as remembered:
            if not self.store.roots.rename(root.id, new):
                raise Conflict(f"a root named {new!r} exists already")
            if old in remembered:
                remembered[new] = remembered.pop(old)
        renamed = self.store.roots.get(root.id)
        assert renamed is not None
        return renamed

    def register(self, folder: Path) -> Root:
        """A folder of this host becomes a root: named after it (unique), remembered in this
        host's `roots.json`, its folder the store's hint."""
        base = "".join("-" if c in ROOT_NAME_FORBIDS else c for c in folder.name) or "root"
        taken = set(self.settings.root_folders())
        with self._locked() as remembered:
            again = next((n for n, f in remembered.items() if _resolved(f) == folder), None)
            mine = next((r for r in self.store.roots.all() if r.name == again), None)
            if mine is not None:  # registered by another process of this host meanwhile
                return mine
            taken |= set(remembered)
            n = 1
            while True:
                name = base if n == 1 else f"{base}-{n}"
                made = None if name in taken else self.store.roots.add(name, str(folder))
                if made is not None:
                    break
                n += 1
            remembered[name] = folder
        root = self.store.roots.get(made)
        assert root is not None
        return root

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Path]]:
        """This host's remembered roots, for a change written when the block ends: under a
        lock (processes of this home register one at a time), through a new file flushed and
        renamed over the old one."""
        self.home_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.home_file.with_name(HOME_FILE + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            remembered = self.remembered()
            yield remembered
            text = json.dumps({k: str(v) for k, v in sorted(remembered.items())}, indent=2)
            write_whole(self.home_file, (text + "\n").encode(),  # (one writer: the lock)
                        self.home_file.with_name(f".{HOME_FILE}.tmp"), mode=0o600)


def _find(here: list[Here], path: Path) -> Place | None:
    """The root a path of this host (resolved) lies in, innermost first (`Roots.finder`)."""
    for h in here:
        if path == h.folder or h.folder in path.parents:
            return Place(h.root, path.relative_to(h.folder).as_posix()
                         if path != h.folder else "")
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return path.expanduser().absolute()
