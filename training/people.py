"""Identity-folder datasets (`DATASET/<person>/<photos>`, photos in subfolders of a person's
folder included, e.g. CFP's `NNN/frontal/` and `NNN/profile/`) and people list files."""

from __future__ import annotations

from pathlib import Path

from faces.boxes import Box
from faces.decode import is_photo_path


def read_people(path: Path) -> set[str]:
    """Names from a list file: one per line, or LFW's `peopleDev*.txt` (a count on the first
    line, then `Name<TAB>photos`). Blank lines and `#` comments are ignored."""
    names: set[str] = set()
    for i, line in enumerate(path.read_text().splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split("\t")[0].strip()
        if i == 0 and name.isdigit():
            continue
        names.add(name)
    return names


def scan_tags(
    root: Path, include: set[str] | None = None, exclude: set[str] | None = None
) -> list[tuple[Path, str, Box, list[Box]]]:
    """(photo, person, the region naming them, every named region of the photo) for each face
    a user's tags name in the photos under `root` (`faces.tags`: MWG or Microsoft regions, in
    sidecars or in the photos), sorted, filtered by the lists. A face two tags name
    differently is left out."""
    from faces.tags import read_tags

    items = []
    for photo in sorted(p for p in root.rglob("*") if is_photo_path(p) and p.is_file()
                        and not any(part.startswith(".") for part in p.relative_to(root).parts)):
        faces = read_tags(photo).faces
        boxes = [f.box for f in faces]
        for face in faces:
            name = face.name
            if name is None or (include is not None and name not in include):
                continue
            if exclude and name in exclude:
                continue
            items.append((photo, name, face.box, boxes))
    return items


def scan(
    root: Path, include: set[str] | None = None, exclude: set[str] | None = None
) -> list[tuple[Path, str]]:
    """(photo, person) for every photo under `root/<person>/`, sorted, filtered by the lists."""
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        person = folder.name
        if include is not None and person not in include:
            continue
        if exclude and person in exclude:
            continue
        items += [(p, person) for p in sorted(folder.rglob("*"))
                  if is_photo_path(p) and p.is_file()]
    return items
