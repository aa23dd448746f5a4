"""How well facepair agrees with the names a user gave: a personal benchmark on their own
library (`facepair agree ALBUM`).

Every album face under the folder that a user's tag names (`facepair import-tags`, or tagging
an album whose photos carry tags) is identified as a new photo would be, against the gallery
as it is, with the enrolled faces that come from that same photo held out (so a face is never
compared with itself), at the identify threshold in force and with the margin between
look-alikes of the settings (`index.lookalikes`). Each face is then named right, named wrong (as
someone else), or left unknown (of which `ambiguous`: between two look-alikes). The report also
lists the enrolled people who look alike, with the two faces that make them so.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TypedDict

import numpy as np

from index.gallery import Gallery
from index.lookalikes import too_close
from index.report import STYLE, thumbnail


class PersonAgreement(TypedDict):
    tagged: int  # faces the user's tags name as this person
    right: int
    wrong: int
    unknown: int
    enrolled: int  # this person's enrolled faces
    named_as: dict[str, int]  # who the wrong ones were taken for


class Agreement(TypedDict):
    threshold: float
    tagged: int
    right: int
    wrong: int
    unknown: int
    ambiguous: int  # of the unknown: left unknown between two look-alikes
    people: dict[str, PersonAgreement]
    mistakes: list[dict]  # path, tagged, named, score: the faces named wrong
    lookalikes: list[dict]  # `LookAlikesOut.pairs`: people, score (nearest first)


def agree(gallery: Gallery, root: Path | str) -> Agreement:
    """Identify every tagged face under `root`, its own photo held out of the gallery."""
    threshold = gallery.threshold()
    faces = [f for f in gallery.store.albums.named_by_user(gallery.roots.parts(root))
             if f.model == gallery.model and f.person_id is not None]
    embedded = gallery.store.embeddings.of_model(gallery.model)
    vectors, owners = embedded.vectors, embedded.person_ids
    shas = gallery.store.faces.shas()
    enrolled_sha = np.array([shas.get(int(i), "") for i in embedded.face_ids])
    people = {p.id: p for p in gallery.store.people.all()}
    alike = gallery.lookalikes(threshold)
    near = {frozenset(p.id for p in pair.people): pair.score for pair in alike.pairs}
    margin = gallery.settings.lookalike_margin
    result = Agreement(threshold=round(threshold, 4), tagged=0, right=0, wrong=0, unknown=0,
                       ambiguous=0, people={}, mistakes=[],
                       lookalikes=[pair.model_dump() for pair in alike.pairs])
    for face in faces:
        assert face.person_id is not None
        person = people[face.person_id]
        entry = result["people"].setdefault(person.name, PersonAgreement(
            tagged=0, right=0, wrong=0, unknown=0, enrolled=person.faces, named_as={}))
        entry["tagged"] += 1
        result["tagged"] += 1
        named, score, second = _identify(face.vector, vectors, owners,
                                         enrolled_sha != face.sha256, threshold)
        if named is not None and too_close((named, score), second,
                                           lambda a, b: near.get(frozenset((a, b))),
                                           threshold, margin):
            named = None
            result["ambiguous"] += 1
        if named is None:
            entry["unknown"] += 1
            result["unknown"] += 1
        elif named == person.id:
            entry["right"] += 1
            result["right"] += 1
        else:
            other = people[named].name
            entry["wrong"] += 1
            result["wrong"] += 1
            entry["named_as"][other] = entry["named_as"].get(other, 0) + 1
            result["mistakes"].append({"path": face.shown, "tagged": person.name,
                                       "named": other, "score": round(score, 4),
                                       "face": face.id})
    return result


def _identify(vector: np.ndarray, vectors: np.ndarray, owners: np.ndarray, keep: np.ndarray,
              threshold: float) -> tuple[int | None, float, tuple[int, float] | None]:
    """The person whose best kept face scores highest, where that reaches `threshold`; its
    score; the second-best person and their score (None: no one else)."""
    if not keep.any():
        return None, -1.0, None
    scores, kept = vectors[keep] @ vector, owners[keep]
    best = int(np.argmax(scores))
    score, person = float(scores[best]), int(kept[best])
    others = kept != person
    second = None
    if others.any():
        j = int(np.argmax(np.where(others, scores, -np.inf)))
        second = (int(kept[j]), float(scores[j]))
    return (person if score >= threshold else None), score, second


def write_agreement(gallery: Gallery, result: Agreement, out: Path) -> Path:
    """The agreement as an HTML page: the figures per person, then the faces named wrong."""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{p['tagged']}</td><td>{p['right']}</td>"
        f"<td>{p['wrong']}</td><td>{p['unknown']}</td><td>{p['enrolled']}</td></tr>"
        for name, p in sorted(result["people"].items(), key=lambda kv: kv[0].casefold()))
    chips = gallery.store.albums.chips([m["face"] for m in result["mistakes"]])
    wrong = "".join(
        f'<figure><img src="{thumbnail(chips[m["face"]])}" alt=""><figcaption>'
        f'{html.escape(Path(m["path"]).name)}: tagged {html.escape(m["tagged"])}, taken for '
        f'{html.escape(m["named"])} ({m["score"]:.2f})</figcaption></figure>'
        for m in result["mistakes"] if m["face"] in chips)
    enrolled = {c.face_id: c.jpeg for c in gallery.store.faces.chips(
        [p["face_id"] for pair in result["lookalikes"] for p in pair["people"]])}
    alike = "".join(
        '<div class=pair>' + "".join(
            f'<figure><img src="{thumbnail(enrolled[p["face_id"]])}" alt="">'
            f'<figcaption>{html.escape(p["name"])}</figcaption></figure>'
            for p in pair["people"] if p["face_id"] in enrolled)
        + f'<p>{pair["score"]:.2f}</p></div>' for pair in result["lookalikes"])
    total = max(1, result["tagged"])
    page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>facepair: how well it "
            f"agrees with your tags</title><style>{STYLE}table{{border-collapse:collapse}}"
            f"td,th{{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:right}}"
            f"td:first-child,th:first-child{{text-align:left}}"
            f".pair{{display:flex;gap:.3rem;align-items:center;border:1px solid #ddd;"
            f"border-radius:.4rem;padding:.3rem}}</style>"
            f"<h1>How well facepair agrees with your tags</h1>"
            f"<p>{result['tagged']} tagged faces, each identified with its own photo held out, "
            f"at the threshold in force ({result['threshold']:.3f}): "
            f"{result['right']} named right ({result['right'] / total:.1%}), "
            f"{result['wrong']} named wrong ({result['wrong'] / total:.1%}), "
            f"{result['unknown']} left unknown ({result['unknown'] / total:.1%}; "
            f"{result['ambiguous']} of them between two look-alikes).</p>"
            f"<table><tr><th>person</th><th>tagged</th><th>right</th><th>wrong</th>"
            f"<th>unknown</th><th>enrolled</th></tr>{rows}</table>"
            f"<h2>Named wrong</h2><div class=faces>{wrong or '<p class=muted>none</p>'}</div>"
            f"<h2>People who look alike</h2><p>Their faces reach the threshold against each "
            f"other; identify names either only when the best leads by "
            f"{gallery.settings.lookalike_margin:g}.</p>"
            f"<div class=faces>{alike or '<p class=muted>none</p>'}</div>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
