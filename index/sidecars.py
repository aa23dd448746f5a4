"""Rewriting the XMP in a user's photo tree from what the store says: the album side's
concern, which album jobs (writing tags), naming a cluster, renaming, merging and deleting
people all end in."""

from __future__ import annotations

from pathlib import Path

from faces.tags import fingerprint
from faces.xmp_vocabulary import NS
from index.files import sha256_of
from index.jpeg_xmp import PhotoLeftAlone, is_jpeg, read_packet
from index.roots import Roots
from index.store import PhotoRef, Store, shown
from index.xmp import Region, SidecarError, sync_embedded, sync_sidecar

SidecarProblem = tuple[str, str, str]  # path, problem, detail


def sync_sidecars(store: Store, roots: Roots, photos: list[PhotoRef], create: bool = False,
                  embed: bool = False) -> tuple[int, list[SidecarProblem]]:
    """Make facepair's regions in these photos' XMP say what the store says (`index.xmp`:
    only facepair's own part changes): in their sidecars, or, with `embed` or where
    facepair wrote there before, inside the JPEGs themselves. Sidecars (and packets) are
    made only with `create` (an album job asked for them); otherwise only existing ones
    are updated. Returns how many changed and the problems, as (`root:path`, problem,
    detail): a photo whose root has no folder on this host, a sidecar or photo left alone,
    or a face another tool's region names differently."""
    changed, problems = 0, []
    locate = roots.locator()
    names = {r.id: r.name for r in store.roots.all()} if photos else {}
    for ref in photos:
        path, label = locate(ref), shown(names.get(ref.root_id, str(ref.root_id)), ref.path)
        if path is None:
            problems.append((label, "photo_not_here", "its root has no folder on this host "
                             "(FACEPAIR_ROOTS): its XMP was not rewritten"))
            continue
        done, found = _sync_one(store, ref, path, label, create, embed)
        changed += done
        problems += found
    return changed, problems


def _sync_one(store: Store, ref: PhotoRef, path: Path, label: str, create: bool, embed: bool
              ) -> tuple[int, list[SidecarProblem]]:
    """One photo's regions (`sync_sidecars`): how many changed, and the problems."""
    tagged = store.albums.regions(ref)
    if tagged is None:
        return 0, []
    width, height, named, video = tagged
    regions = [Region.from_box(name, box, width, height, person) for person, name, box in named]
    try:
        inside = is_jpeg(path) and (embed or NS["facepair"].encode() in (
            read_packet(path) or b""))
        # a video's sidecar names its people, with no regions (a region is of one frame)
        synced = (sync_embedded if inside else sync_sidecar)(path, regions, width, height,
                                                             create, areas=not video)
    except PhotoLeftAlone as exc:
        return 0, [(label, "photo_left_alone", str(exc))]
    except (SidecarError, OSError) as exc:
        return 0, [(label, "sidecar_left_alone", str(exc))]
    if synced is None:
        return 0, []
    if inside and synced.changed:
        st = path.stat()
        store.albums.rewritten(ref, st.st_size, st.st_mtime, sha256_of(path))
    elif synced.changed:
        store.albums.sidecar_written(ref, fingerprint(path))
    return synced.changed, [(label, "name_differs",
                             f"another tool's region names {theirs.name!r} where facepair "
                             f"sees {ours.name!r}; that region's name is kept")
                            for theirs, ours in synced.disagreements]
