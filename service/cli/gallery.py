"""`facepair enroll | identify | verify | people … | calibrate | reembed`: the gallery's CLI."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from faces.errors import FacepairError
from index.results import EnrollmentOut, FaceMatchOut, ThresholdOut, four_places
from service.cli.common import (
    FaceChoice,
    Json,
    box_option,
    emit_json,
    error_dict,
    fail,
    open_gallery,
    out,
    plain,
    progress,
    quiet,
)

commands = typer.Typer()

people_app = typer.Typer(help="List, rename, merge and delete people; move a face.",
                         no_args_is_help=True)
commands.add_typer(people_app, name="people")











def _say(as_json: bool, payload: dict, text: str) -> None:
    if as_json:
        emit_json(payload)
    else:
        out.print(text, highlight=False)


def by_path(result: EnrollmentOut) -> dict:
    """A photo's enrollment as `facepair enroll --json` gives it: the photo by its path."""
    row = plain(result)
    return {"path": row.pop("photo"), **row}




@commands.command()
def enroll(
    name: str = typer.Argument(..., help="The person (created when new)."),
    photos: list[Path] = typer.Argument(..., help="Photos showing them."),
    face: FaceChoice | None = typer.Option(None, help="In photos of several faces: which one."),
    box: str | None = typer.Option(None, help="The face at x1,y1,x2,y2 (one photo)."),
    note: str = typer.Option("", help="A note kept with a new person."),
    as_json: Json = False,
) -> None:
    """Enroll a person from photos that each show them: one face, the one you name, or the
    one that matches their other photos."""
    from index.names import checked_name

    choice, where = (face.value if face else None), box_option(box)
    try:
        checked_name(name)  # a name that cannot be stored is refused before any photo
    except FacepairError as exc:
        raise fail(exc.message) from None
    gallery = open_gallery(quiet=quiet(as_json))
    try:
        with progress(quiet=quiet(as_json)) as bar:
            task = bar.add_task("enrolling", total=2 * len(photos), rate="")
            results = gallery.enroll_photos(
                name, photos, face=choice, box=where, note=note,
                progress=lambda d, t: bar.update(task, completed=d, total=t))
        person = gallery.store.people.by_name(name.strip())
    finally:
        gallery.close()
    enrolled = sum(r.enrolled for r in results)
    if as_json:  # each photo by its path
        emit_json({"person": person.to_dict() if person else None, "enrolled": enrolled,
                   "refused": len(results) - enrolled,
                   "photos": [by_path(r) for r in results]})
    else:
        for r in results:
            why = "" if r.error is None else f": {r.error.message}"
            colour = "green" if r.enrolled else "red"
            out.print(Text.assemble((r.status, colour), f" {r.photo}{why}"), highlight=False)
        if person:
            out.print(f"{person.name} (id {person.id}) has {person.faces} enrolled face(s)")
    if enrolled < len(results):
        raise typer.Exit(1)


@commands.command()
def lookalikes(
    level: float | None = typer.Option(None, min=-1.0, max=1.0, help="The cosine from which "
                                       "two people look alike (default: the identify "
                                       "threshold in force)."),
    open_only: bool = typer.Option(False, "--open", help="Leave out the pairs said to be "
                                   "different people (people different)."),
    as_json: Json = False,
) -> None:
    """Enrolled people whose faces are near each other (siblings, twins, one person under two
    names), nearest first: identify names either only when the best leads by the margin."""
    with open_gallery(quiet=quiet(as_json)) as gallery:
        found = gallery.lookalikes(level, open_only=open_only)
    if as_json:
        emit_json(plain(found))
        return
    if not found.pairs:
        out.print(f"no one looks alike at {found.level:.3f}", highlight=False)
    for pair in found.pairs:
        a, b = pair.people
        out.print(f"{a.name} and {b.name}: {pair.score:.3f} (faces {a.face_id} and "
                  f"{b.face_id}){'; different people' if pair.different else ''}",
                  highlight=False, markup=False)
    if found.pairs:
        out.print(f"look-alike from {found.level:.3f}; identify asks a margin of "
                  f"{found.margin:g}", highlight=False)


@commands.command()
def identify(
    photos: list[Path] = typer.Argument(..., help="Photos to name the faces of."),
    threshold: float | None = typer.Option(None, help="Cosine threshold (default: calibrated)."),
    far: float | None = typer.Option(None, help="Use the model card's threshold at this FAR."),
    top_k: int | None = typer.Option(None, help="Candidates per face."),
    as_json: Json = False,
) -> None:
    """Name every face in each photo, or say it is unknown (a stranger) or unrecognisable
    (its quality under FACEPAIR_QUALITY_FLOOR: too poor to tell)."""
    if threshold is not None and far is not None:
        raise fail("give --threshold or --far, not both")
    if top_k is not None and not 1 <= top_k <= 100:
        raise fail("--top-k must be between 1 and 100")
    gallery = open_gallery(quiet=quiet(as_json))
    in_force: dict | None = None  # the gallery's threshold and what it estimates of it
    if threshold is not None or far is not None:
        thr = threshold if threshold is not None else gallery.threshold(far)
    else:
        estimate = gallery.estimate()
        thr, in_force = estimate.threshold, plain(ThresholdOut.of(estimate))
    results: list[dict] = []
    try:
        with progress(quiet=quiet(as_json)) as bar:
            task = bar.add_task("identifying", total=len(photos), rate="")
            for path in photos:
                try:
                    matches = gallery.identify(path, threshold=thr, top_k=top_k)
                    results.append({"path": str(path),
                                    "faces": [plain(FaceMatchOut.of(m)) for m in matches]})
                except FacepairError as exc:
                    results.append({"path": str(path), "faces": [], "error": error_dict(exc)})
                bar.advance(task)
    finally:
        gallery.close()
    if as_json:
        emit_json({"threshold": four_places(thr), "threshold_in_force": in_force,
                   "photos": results})
    else:
        for r in results:
            if "error" in r:
                out.print(Text(f"{r['path']}: {r['error']['message']}", style="red"),
                          highlight=False)
                continue
            names = [f"{f['person']['name']} ({f['score']:.3f})" if f["person"]
                     else f"unrecognisable (quality {f['quality']:.2f})"
                     if f.get("unrecognisable")
                     else f"unknown ({f['reason']})" if f.get("reason") else "unknown"
                     for f in r["faces"]]
            out.print(f"{r['path']}: {', '.join(names) or 'no face'}", highlight=False)
    if any("error" in r for r in results):
        raise typer.Exit(1)


@commands.command()
def verify(
    a: Path = typer.Argument(..., help="A photo."),
    b: str = typer.Argument(..., help="Another photo, or person:NAME_OR_ID."),
    threshold: float | None = typer.Option(None, help="Cosine threshold (default: calibrated)."),
    face: FaceChoice = typer.Option(FaceChoice.largest, help="Which face of each photo."),
    as_json: Json = False,
) -> None:
    """Same person or not: two photos, or a photo and an enrolled person."""
    choice = face.value
    with open_gallery(quiet=quiet(as_json)) as gallery:
        other: Path | int = Path(b)
        if b.startswith("person:"):
            other = gallery.find_person(b.removeprefix("person:")).id
        result = gallery.verify(a, other, threshold, face=choice)
    if as_json:
        emit_json(plain(result))
    else:
        verdict = "same person" if result.same else "different people"
        out.print(f"{verdict}: score {result.score:.4f}, threshold {result.threshold:.4f}")


@people_app.command("list")
def people_list(as_json: Json = False) -> None:
    """Everyone enrolled, with their face counts."""
    with open_gallery(quiet=quiet(as_json)) as gallery:
        people = gallery.people()
    if as_json:
        emit_json({"people": [p.to_dict() for p in people]})
        return
    table = Table("id", "name", "faces", "note")
    for p in people:
        table.add_row(str(p.id), p.name, str(p.faces), p.note)
    out.print(table)


@people_app.command("show")
def people_show(person: str = typer.Argument(..., help="Name or id."), as_json: Json = False):
    """A person and their enrolled faces."""
    with open_gallery(quiet=quiet(as_json)) as gallery:
        p = gallery.find_person(person)
        faces = [f.to_dict() for f in gallery.store.faces.of_person(p.id)]
    if as_json:
        emit_json({"person": p.to_dict(), "faces": faces})
        return
    out.print(f"{p.name} (id {p.id}) {p.note}")
    for f in faces:
        out.print(f"  face {f['id']}: {f['source']} box {[round(v) for v in f['box']]}",
                  highlight=False)


@people_app.command("rename")
def people_rename(person: str = typer.Argument(..., help="Name or id."),
                  new_name: str = typer.Argument(...), as_json: Json = False) -> None:
    """Give a person another name."""
    with open_gallery(quiet=quiet(as_json)) as gallery:
        p = gallery.update_person(gallery.find_person(person).id, name=new_name)
    _say(as_json, {"person": p.to_dict()}, f"renamed: {p.name}")


@people_app.command("merge")
def people_merge(keep: str = typer.Argument(..., help="Name or id that stays."),
                 other: str = typer.Argument(..., help="Name or id merged into it."),
                 as_json: Json = False) -> None:
    """Move one person's faces to another and remove the first."""
    with open_gallery(quiet=quiet(as_json)) as gallery:
        p = gallery.merge(gallery.find_person(keep).id, gallery.find_person(other).id)
    _say(as_json, {"person": p.to_dict()}, f"{p.name} now has {p.faces} face(s)")


@people_app.command("delete")
def people_delete(person: str = typer.Argument(..., help="Name or id."),
                  yes: bool = typer.Option(False, "--yes", help="Do not ask."),
                  as_json: Json = False) -> None:
    """Delete a person for good: their faces, chips, embeddings and index entries."""
    with open_gallery(quiet=quiet(as_json)) as gallery:
        p = gallery.find_person(person)
        if not yes and not as_json and not typer.confirm(
                f"Delete {p.name} and their {p.faces} face(s) for good?"):
            raise typer.Exit(1)
        result = gallery.delete_person(p.id)
    _say(as_json, plain(result), f"deleted {p.name} and {result.deleted_faces} face(s)")


@people_app.command("remove-face")
def people_remove_face(face_id: int = typer.Argument(..., help="A face id (people show)."),
                       as_json: Json = False) -> None:
    """Remove one enrolled face (its chip, embeddings and index entry)."""
    with open_gallery(quiet=quiet(as_json)) as gallery:
        result = gallery.remove_face(face_id)
    _say(as_json, plain(result), f"removed face {face_id}")


@people_app.command("move-face")
def people_move_face(
    face_id: int = typer.Argument(..., help="An enrolled face's id (people show), or with "
                                  "--album an album face's."),
    person: str = typer.Argument(..., help="Who it is: a name (a new person where nobody has "
                                 "it) or an id."),
    album: bool = typer.Option(False, "--album", help="FACE_ID is an album face's."),
    as_json: Json = False,
) -> None:
    """This is …: the face becomes that person's, and is never named as the one it was
    again."""
    from index.curation import this_is

    by_id = person.isdigit()
    with open_gallery(quiet=quiet(as_json)) as gallery:
        moved = this_is(gallery, face_id, "album" if album else "enrolled",
                        None if by_id else person, int(person) if by_id else None)
    was = f" (no longer {moved['previous']['name']})" if moved["previous"] else ""
    _say(as_json, moved, f"face {face_id} is {moved['person']['name']}'s{was}"
         + ("; enrolled" if moved["enrolled"] else ""))


@people_app.command("different")
def people_different(a: str = typer.Argument(..., help="Name or id."),
                     b: str = typer.Argument(..., help="Name or id."),
                     as_json: Json = False) -> None:
    """Two look-alikes are different people: no longer offered as one person enrolled twice
    (identify still asks them the look-alike margin)."""
    from index.curation import different_people

    with open_gallery(quiet=quiet(as_json)) as gallery:
        told = different_people(gallery, gallery.find_person(a).id, gallery.find_person(b).id)
    first, second = told["people"]
    _say(as_json, told, f"{first['name']} and {second['name']} are different people")


def describe_threshold(t: dict) -> str:
    """One line: the identify threshold, its source, and its estimated rates."""
    line = f"identify threshold {t['threshold']:.4f} ({t['source']})"
    for key, what in (("fpir", "strangers named"), ("fnir", "people missed")):
        r = t.get(key)
        if r and r["of"]:
            line += (f"; {what} {r['estimate']:.2%} (95 % {r['low']:.2%}–{r['high']:.2%}, "
                     f"{r['count']} of {r['of']})")
    return line


@commands.command()
def status(as_json: Json = False) -> None:
    """The model, the gallery's size, and the thresholds in force with their estimated rates."""
    with open_gallery(quiet=quiet(as_json)) as gallery:
        result = plain(gallery.status())
    if as_json:
        emit_json(result)
        return
    t = result["identify"]
    out.print(f"{result['people']} people, {result['faces']} faces ({result['model']}) in "
              f"the collection {result['collection']}", highlight=False)
    out.print(describe_threshold(t), highlight=False)
    gallery_own = ("not yet estimated: too few faces" if t["gallery_threshold"] is None
                   else f"{t['gallery_threshold']:.4f}")
    out.print(f"card's threshold {t['card_threshold']:.4f}; the gallery's own {gallery_own}; "
              f"verify threshold {result['verify_threshold']:.4f}", highlight=False)


@commands.command()
def calibrate(
    target_fpir: float = typer.Option(0.01, help="False-identification rate to aim for."),
    apply: bool = typer.Option(False, help="Use the suggested threshold from now on."),
    reset: bool = typer.Option(False, help="Go back to the model card's threshold."),
    as_json: Json = False,
) -> None:
    """Estimate how often a stranger would be named, from the enrolled people themselves."""
    if not 0 < target_fpir < 1:
        raise fail("--target-fpir must be between 0 and 1")
    with open_gallery(quiet=quiet(as_json)) as gallery:
        if reset:
            gallery.reset_threshold()
        result = plain(gallery.calibrate(target_fpir, apply=apply))
    if as_json:
        emit_json(result)
        return
    out.print(f"{result['people']} people, {result['faces']} faces ({result['model']})")
    for key in ("current", "card", "suggested"):
        r = result[key]
        misses = "n/a" if r["fnir"] is None else f"{r['fnir']:.2%}"
        out.print(f"{key:9s} threshold {r['threshold']:.4f}: false identifications "
                  f"{r['fpir']:.2%}, misses {misses}")
    if result.get("warning"):
        out.print(Text(result["warning"], style="yellow"))


@commands.command()
def reembed(as_json: Json = False) -> None:
    """Re-embed every enrolled face with the current model, keeping every label."""
    with open_gallery(quiet=quiet(as_json)) as gallery, progress(quiet=quiet(as_json)) as bar:
        task = bar.add_task("re-embedding", total=None, rate="")
        result = gallery.reembed(lambda d, t: bar.update(task, completed=d, total=t))
    _say(as_json, plain(result), f"re-embedded {result.faces} face(s) with {result.model}")
