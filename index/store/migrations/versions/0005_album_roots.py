"""Album photos kept by root: a `roots` table (a photo library by name), album photos keyed by
their root and a path inside it, album jobs by their root and the folder inside it.

The photos and jobs of a gallery are given roots as their absolute paths suggest: every job's
folder is a root, and a photo under none of them gets its own folder as one; a folder inside
another of these is not a root of its own (the outer one is). Each root is named after its
folder's base name (made unique: `photos`, `photos-2`, …) and keeps that folder as its hint,
where a host that has not said where the root lives looks for it. A problem's path under its
job's folder becomes `root:path`.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# names for SQLite's unnamed constraints, so that a rebuild can drop the old unique path
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def chosen_roots(job_roots: list[str], photo_paths: list[str]) -> list[PurePosixPath]:
    """The folders that become roots: the jobs' folders, and the folder of every photo under
    none of them; of these, those inside no other."""
    jobs = {PurePosixPath(r) for r in job_roots if r}
    found = set(jobs)
    for path in map(PurePosixPath, photo_paths):
        if not any(j in path.parents for j in jobs):
            found.add(path.parent)
    return sorted(f for f in found if not any(o in f.parents for o in found))


def names_for(folders: list[PurePosixPath]) -> dict[PurePosixPath, str]:
    """Each root's name: its folder's base name (`root` for `/`), made unique."""
    names: dict[PurePosixPath, str] = {}
    taken: set[str] = set()
    for folder in folders:
        base = (folder.name or "root").replace(":", "-")
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        names[folder] = name
    return names


def place(path: str, roots: list[PurePosixPath]) -> tuple[PurePosixPath, str] | None:
    """The root a path lies in (or is) and its path inside it."""
    p = PurePosixPath(path)
    for root in roots:
        if p == root or root in p.parents:
            return root, p.relative_to(root).as_posix() if p != root else ""
    return None


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table("roots", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.Text, nullable=False, unique=True),
                    sa.Column("created", sa.Text, nullable=False), sa.Column("hint", sa.Text))
    jobs = bind.execute(sa.text("SELECT id, root FROM album_jobs")).all()
    photos = bind.execute(sa.text("SELECT id, path FROM album_photos")).all()
    roots = chosen_roots([j.root for j in jobs], [p.path for p in photos])
    ids = _add_roots(bind, roots)
    op.add_column("album_jobs", sa.Column("root_id", sa.Integer))
    op.add_column("album_jobs", sa.Column("folder", sa.Text, nullable=False, server_default=""))
    op.add_column("album_photos", sa.Column("root_id", sa.Integer))
    _rekey(bind, jobs, photos, roots, ids)
    _constrain()


def _add_roots(bind: sa.Connection, roots: list[PurePosixPath]) -> dict[PurePosixPath, int]:
    created = datetime.now(UTC).isoformat(timespec="seconds")
    ids: dict[PurePosixPath, int] = {}
    for folder, name in names_for(roots).items():
        bind.execute(sa.text("INSERT INTO roots (name, created, hint) VALUES (:n, :c, :h)"),
                     {"n": name, "c": created, "h": str(folder)})
        ids[folder] = int(bind.execute(sa.text("SELECT id FROM roots WHERE name = :n"),
                                       {"n": name}).scalar_one())
    return ids


def _rekey(bind: sa.Connection, jobs: Sequence[sa.Row], photos: Sequence[sa.Row],
           roots: list[PurePosixPath], ids: dict[PurePosixPath, int]) -> None:
    """Each job's root and folder, each photo's root and path inside it, and the paths of
    problems under a job's folder as `root:path`."""
    names = names_for(roots)
    rows = []
    for job in jobs:
        found = place(job.root, roots)
        if found is None:  # a job of no folder (none is made so): a root of its own
            found = (PurePosixPath(job.root or "/"), "")
            ids.update(_add_roots(bind, [found[0]]))
        rows.append({"i": job.id, "r": ids[found[0]], "f": found[1]})
    if rows:
        bind.execute(sa.text("UPDATE album_jobs SET root_id = :r, folder = :f WHERE id = :i"),
                     rows)
    moved = []
    for photo in photos:
        found = place(photo.path, roots)
        assert found is not None  # (every photo's folder is a root or inside one)
        root, inside = found
        moved.append({"i": photo.id, "r": ids[root], "p": inside})
    if moved:
        bind.execute(sa.text("UPDATE album_photos SET root_id = :r, path = :p WHERE id = :i"),
                     moved)
    shown = []
    for problem in bind.execute(sa.text("SELECT id, path FROM album_problems")).all():
        found = place(problem.path, roots)
        if found is not None and found[1]:
            shown.append({"i": problem.id, "p": f"{names[found[0]]}:{found[1]}"})
    if shown:
        bind.execute(sa.text("UPDATE album_problems SET path = :p WHERE id = :i"), shown)


def _constrain() -> None:
    """The new keys hold from now on: a root for every job and photo, one photo per root and
    path; the absolute paths go."""
    unique_path = [u["name"] or "uq_album_photos_path" for u in
                   sa.inspect(op.get_bind()).get_unique_constraints("album_photos")
                   if u["column_names"] == ["path"]]
    with op.batch_alter_table("album_photos", naming_convention=NAMING) as photos:
        for name in unique_path:
            photos.drop_constraint(name, type_="unique")
        photos.alter_column("root_id", existing_type=sa.Integer, nullable=False)
        photos.create_foreign_key("album_photos_root", "roots", ["root_id"], ["id"])
        photos.create_unique_constraint("album_photos_place", ["root_id", "path"])
    with op.batch_alter_table("album_jobs") as jobs:
        jobs.alter_column("root_id", existing_type=sa.Integer, nullable=False)
        jobs.create_foreign_key("album_jobs_root", "roots", ["root_id"], ["id"])
        jobs.drop_column("root")


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
