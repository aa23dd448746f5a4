"""`facepair tag ALBUM`, `facepair import-tags ALBUM`, `facepair draw-face PHOTO`,
`facepair photos --person NAME`,
`facepair clusters list | name` and `facepair roots list`."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from faces.cluster import disconnect
from service.cli.common import (
    Json,
    box_option,
    emit_json,
    err,
    fail,
    open_gallery,
    out,
    progress,
    quiet,
    ray_address,
    ray_option,
)

commands = typer.Typer()


clusters_app = typer.Typer(help="Groups of unknown faces found by `facepair tag`.",
                           no_args_is_help=True)
commands.add_typer(clusters_app, name="clusters")
roots_app = typer.Typer(help="Photo libraries by name, which album photos are kept in.",
                        no_args_is_help=True)
commands.add_typer(roots_app, name="roots")
ALBUM = ("; or root:path, a folder inside a root by the root's name (`facepair roots list`)")


def album_folder(album: str) -> str:
    """A folder argument as given: a folder here, or `root:path` (the roots say which)."""
    if not Path(album).expanduser().is_dir() and ":" not in album:
        raise fail(f"{album}: not a folder")
    return album


@commands.command()
def tag(
    album: str = typer.Argument(..., help="A folder of photos (searched recursively)" + ALBUM),
    xmp: bool = typer.Option(False, "--xmp", help="Write photo.jpg.xmp sidecars (merged)."),
    embed: bool = typer.Option(
        False, "--embed", help="With --xmp: write into each JPEG's own XMP instead of a "
        "sidecar (only the XMP changes; the image data stays byte for byte)."),
    report: Path | None = typer.Option(None, help="Write an HTML page of the faces found."),
    workers: int | None = typer.Option(
        None, min=1, help="Worker processes, each loading the model (default: "
        "FACEPAIR_ALBUM_WORKERS)."),
    ray: str | None = ray_option("Analyse the photos"),
    as_json: Json = False,
) -> None:
    """Tag every face in a photo library; resumable, and a re-run skips unchanged photos. A
    folder inside no root (FACEPAIR_ROOTS, or one tagged before) becomes a root of its own."""
    album = album_folder(album)
    from index.clustering import ClusterHelper

    # first: the helper imports scikit-learn while this process imports torch (index.clustering)
    with ClusterHelper() as clusterer:
        from index.album.tagger import AlbumTagger
        from index.report import write_report

        with open_gallery(quiet=quiet(as_json)) as gallery:
            with progress(quiet=quiet(as_json)) as bar:
                task = bar.add_task("tagging", total=None, rate="")
                started = time.monotonic()

                def update(done: int, total: int) -> None:
                    rate = done / max(1e-9, time.monotonic() - started)
                    bar.update(task, completed=done, total=total, rate=f"{rate:.1f} photos/s")

                ray = ray_address(ray, gallery.settings.ray_address)
                tagger = AlbumTagger(gallery, workers=workers or gallery.settings.album_workers,
                                     xmp=xmp, embed=embed, progress=update,
                                     clusterer=clusterer, ray=ray)
                try:
                    result = tagger.run(album)
                finally:
                    if ray is not None:
                        disconnect()
            if report is not None:
                result["report"] = write_report(gallery, report)["report"]
    if as_json:
        emit_json(result)
        return
    videos = (f", {result['videos']} of them videos with {result['tracks']} faces followed "
              "across frames" if result["videos"] else "")
    out.print(f"{result['root']}: {result['photos']} photos tagged{videos} "
              f"({result['unchanged']} unchanged, {result['skipped']} other files skipped, "
              f"{result['failed']} unreadable): "
              f"{result['faces']} faces, {result['named']} named, {result['unknown']} unknown in "
              f"{result['clusters']} clusters, {result['unrecognisable']} unrecognisable; "
              f"{result['seconds']:.1f} s", highlight=False)
    if result["context"]["named"] or result["context"]["cleared"]:
        out.print(f"named by the library's context: {result['context']['named']} faces "
                  f"(just under the threshold, like named faces of that person only)"
                  + (f"; {result['context']['cleared']} no longer"
                     if result["context"]["cleared"] else ""), highlight=False)
    if report is not None:
        out.print(f"report: {report}")


@commands.command("import-tags")
def import_tags(
    album: str = typer.Argument(..., help="A folder of photos tagged in another tool" + ALBUM),
    people: Path | None = typer.Option(
        None, help="A file of names, one a line: only these people are imported."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read and match, write nothing."),
    per_person: int = typer.Option(10, min=1, help="Faces enrolled per person, at most."),
    workers: int | None = typer.Option(
        None, min=1, help="Worker processes (default: FACEPAIR_ALBUM_WORKERS)."),
    as_json: Json = False,
) -> None:
    """Turn the face tags of digiKam, Lightroom, Picasa or Windows Photos (MWG and Microsoft
    regions, in sidecars or in the photos) into people: each named region is matched to a
    face, a few good faces per person are enrolled, and the rest are known album faces."""
    from index.tag_import import import_tags as run_import

    album = album_folder(album)
    names = None
    if people is not None:
        try:
            names = {line.strip() for line in people.read_text().splitlines()
                     if line.strip() and not line.lstrip().startswith("#")}
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"{people}: cannot be read ({exc})") from exc
    with open_gallery(quiet=quiet(as_json)) as gallery, progress(quiet=quiet(as_json)) as bar:
        task = bar.add_task("reading tagged photos", total=None, rate="")
        report = run_import(gallery, album, workers or gallery.settings.album_workers, names,
                            per_person, dry_run,
                            lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        emit_json(report)
        return
    verb = "would be" if dry_run else "were"
    out.print(f"{report['photos']} tagged photos read ({report['unchanged']} unchanged): "
              f"{report['regions']} named regions, {report['matched']} on a detected face",
              highlight=False)
    for name, figures in report["names"].items():
        out.print(f"  {name}: {figures['matched']}/{figures['regions']} regions on a face, "
                  f"{figures['enrolled']} faces enrolled", highlight=False, markup=False)
    for found, what in ((report["without_face"], "regions without a face"),
                        (report["conflicts"], "faces named differently by two tags"),
                        (report["differ"], "faces facepair would have named otherwise")):
        if found:
            err.print(f"{len(found)} {what} (they {verb} left as tagged; --json lists them)",
                      highlight=False)


@commands.command()
def agree(
    album: str = typer.Argument(..., help="A folder whose face tags were imported or read"
                                + ALBUM),
    report: Path | None = typer.Option(None, help="Write the figures and the faces named "
                                       "wrong as an HTML page."),
    as_json: Json = False,
) -> None:
    """How well facepair agrees with your own tags: each tagged face identified with its own
    photo held out, at the threshold in force: named right, named wrong, or left unknown."""
    from index.agreement import agree as measure
    from index.agreement import write_agreement

    album = album_folder(album)
    with open_gallery(quiet=quiet(as_json)) as gallery:
        result = measure(gallery, album)
        if report is not None:
            write_agreement(gallery, result, report)
    if as_json:
        emit_json({**result, "report": str(report) if report else None})
        return
    total = max(1, result["tagged"])
    out.print(f"{result['tagged']} tagged faces at threshold {result['threshold']:.3f}: "
              f"{result['right']} right ({result['right'] / total:.1%}), {result['wrong']} "
              f"wrong ({result['wrong'] / total:.1%}), {result['unknown']} unknown "
              f"({result['unknown'] / total:.1%})", highlight=False)
    for name, p in sorted(result["people"].items(), key=lambda kv: kv[0].casefold()):
        out.print(f"  {name}: {p['right']}/{p['tagged']} right, {p['wrong']} wrong, "
                  f"{p['unknown']} unknown ({p['enrolled']} enrolled)", highlight=False,
                  markup=False)
    if result["tagged"] == 0:
        err.print("no tagged faces under this folder (run facepair import-tags first)")
    if report is not None:
        out.print(f"report: {report}")


@commands.command("draw-face")
def draw_face(
    photo: Path = typer.Argument(..., help="A tagged photo of an album (its file here)."),
    box: str = typer.Option(..., help="x1,y1,x2,y2 of the face, in the photo's pixels."),
    name: str | None = typer.Option(None, help="Who it is (default: as the gallery names "
                                    "it)."),
    as_json: Json = False,
) -> None:
    """Add a face the detector did not find in a tagged photo: aligned and embedded from the
    box, named as you say (and enrolled while the person has room), kept when the photo is
    tagged again."""
    from index import curation

    where = box_option(box)
    assert where is not None
    if name is not None and not name.strip():
        raise fail("--name must not be empty")
    with open_gallery(quiet=quiet(as_json)) as gallery:
        place = gallery.roots.finder()(photo.expanduser().resolve())
        if place is None:
            raise fail(f"{photo}: not in a root (facepair tag its folder first)")
        found = gallery.store.albums.photo_at(place.ref)
        result = curation.draw_face(gallery, found.id, where, name)
    if as_json:
        emit_json(result)
        return
    who = result["person"]["name"] if result["person"] else "unknown"
    notes = [f"quality {result['quality']:.2f}"]
    if result["unrecognisable"]:
        notes.append("under the quality floor: kept, never enrolled")
    if result["enrolled"]:
        notes.append("enrolled")
    if result["landmarks"] == "box":
        notes.append("aligned from the box alone")
    out.print(f"album face {result['id']}: {who} ({'; '.join(notes)})", highlight=False,
              markup=False)


@clusters_app.command("list")
def clusters_list(as_json: Json = False) -> None:
    """The clusters of unknown faces, biggest first."""
    from index.album.clusters import clusters

    with open_gallery(quiet=quiet(as_json)) as gallery:
        found = clusters(gallery)
    if as_json:
        emit_json({"clusters": found})
        return
    if not found:
        out.print("no clusters of unknown faces (run `facepair tag ALBUM` first)")
    for g in found:
        out.print(f"cluster {g['id']}: {g['faces']} faces in {g['photos']} photos, e.g. "
                  f"{', '.join(g['examples'][:3])}", highlight=False)


@clusters_app.command("name")
def clusters_name(cluster: int = typer.Argument(..., help="A cluster id (clusters list)."),
                  name: str = typer.Argument(..., help="Who they are."),
                  as_json: Json = False) -> None:
    """Enroll a cluster of unknown faces as a person and re-tag their photos."""
    from index.album.clusters import name_cluster

    if not name.strip():
        raise fail("the name must not be empty")
    with open_gallery(quiet=quiet(as_json)) as gallery:
        result = name_cluster(gallery, cluster, name)
    if as_json:
        emit_json(result)
    else:
        out.print(f"{result['person']['name']}: {result['enrolled_faces']} faces enrolled from "
                  f"{result['photos']} photos", highlight=False)
        if result["sidecars_written"]:
            err.print(f"{result['sidecars_written']} sidecars rewritten")


@commands.command()
def photos(
    person: list[str] = typer.Option(..., "--person", "-p",
                                     help="A person by name or id; repeat it for photos of "
                                     "several together."),
    limit: int = typer.Option(60, min=1, max=500, help="Photos on this page."),
    offset: int = typer.Option(0, min=0, help="Photos to pass over first."),
    as_json: Json = False,
) -> None:
    """The tagged photos in which all of these people are named, newest first."""
    from index.curation import photos_with

    with open_gallery(quiet=quiet(as_json)) as gallery:
        found = photos_with(gallery, list(person), limit, offset)
    if as_json:
        emit_json(found)
        return
    who = " with ".join(p["name"] for p in found["people"])
    out.print(f"{found['count']} photos of {who}" + (
        f" ({offset + 1}–{offset + len(found['photos'])} here)" if found["photos"] else ""),
        highlight=False)
    from faces.video import clock

    for p in found["photos"]:
        names = ", ".join(f["person"]["name"] + spans(f.get("times"))
                          for f in p["faces"] if f["person"])
        video = f"  (video, {clock(p['duration'])})" if p.get("duration") is not None else ""
        out.print(f"{p['local'] or p['path']}{video}  {names}", highlight=False)


def spans(times: list[list[float]] | None) -> str:
    """A video face's spans as clocks: ` 0:12–0:31, 1:05–1:20`; nothing for a photo's."""
    from faces.video import clock

    if not times:
        return ""
    return " " + ", ".join(f"{clock(a)}–{clock(b)}" for a, b in times)


@roots_app.command("rename")
def roots_rename(old: str = typer.Argument(..., help="A root's name (roots list)."),
                 new: str = typer.Argument(..., help="Its new name."),
                 as_json: Json = False) -> None:
    """Rename a root: its photos and jobs follow; hosts that place it in FACEPAIR_ROOTS
    use the new name there."""
    from index.roots import Roots
    from index.store import Store
    from service.settings import get_settings

    settings = get_settings()  # the roots of the collection it works in (`--collection`)
    store = Store(settings.store_location(), settings.collection)
    try:
        root = Roots(store, settings, settings.collection_home()).rename(old, new)
    finally:
        store.close()
    if as_json:
        emit_json(root.to_dict())
    else:
        out.print(f"{old} is now {root.name}", highlight=False, markup=False)


@roots_app.command("list")
def roots_list(as_json: Json = False) -> None:
    """The roots, and where each is on this host (FACEPAIR_ROOTS, registered here by
    `facepair tag`, or the folder it was first found at)."""
    from index.roots import Roots
    from index.store import Store
    from service.settings import get_settings

    settings = get_settings()  # the roots of the collection it works in (`--collection`)
    store = Store(settings.store_location(), settings.collection)
    try:
        found = Roots(store, settings, settings.collection_home()).listing()
    finally:
        store.close()
    if as_json:
        emit_json({"roots": found})
        return
    if not found:
        out.print("no roots yet (`facepair tag FOLDER` makes one; FACEPAIR_ROOTS names them)")
    for root in found:
        where = (f"{root['folder']} ({root['source']})" if root["folder"]
                 else f"not on this host (first found at {root['hint']})")
        out.print(f"{root['name']}: {where}", highlight=False, markup=False)
