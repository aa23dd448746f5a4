"""What the margin between look-alikes costs and saves, on people the model did not train on.

    .venv/bin/python -m bench.lookalikes [--choose | --twins | --scale FACES]
                                         [--margins 0.01,0.02,…] [--json]

Two open-set galleries (without an option, the reported ones):
- cfp-dev, splits 4 and 5 (`--splits`): the people in order, every other one enrolled with
  their first 3 frontal photos, their other 7 frontal and 4 profile photos mated probes; every
  photo of the others a stranger.
- LFW DevTest (`bench.open_set.devtest_split`): each person with ≥ 4 photos enrolled with their
  first 3, their other photos mated probes; the people with fewer photos strangers.

`--twins` measures LFW DevTest with identical twins (`with_twins`): each person with 7 or more
probes is enrolled a second time, under another name, with 3 of their probes; a probe named as
the twin is a misidentification. Enrolled twins are strangers to each other who score as one
person, so they raise the gallery's own threshold estimate; the twins are therefore named at
the threshold in force of the gallery without them. The people of these sets are unrelated, so
few of them look alike; the twins are the case the margin is for.

`--choose` measures cfp-dev splits 1–3 alike, less the people who are also LFW DevTest people,
and the same people with identical twins: the data the margin is chosen on. A margin's gain is
the misidentifications it saves (mated probes named as someone else, strangers named), each
counted `WRONG_COST` (2) times, less the correct names it loses; of the margins whose gain on
the unrelated people is not negative, the one with the most gain with twins is chosen.

`--scale FACES` times the look-alikes of a gallery of that many synthetic faces: the first
question, one after another person is enrolled, one with nothing new.

The faces are those of `bench.lookalike_faces` (cached vectors). The enrolled faces are written
into a fresh gallery's store and read as identify reads them (`Gallery.reload`); each probe is
then named by `Matching.match`, as identify names a photo of that one face, at the threshold
in force (`Gallery.threshold`: the gallery's own estimate at FACEPAIR_FPIR, or the card's) and
with each margin, the look-alike level being that threshold (`index.lookalikes`). A probe
without a face is never named. Per margin, against the same probes without one: mated probes
named wrong without it and left unknown with it (misidentifications saved), strangers named
without it and not with it (strangers saved), mated probes named right without it and left
unknown with it (correct names lost); each with a 90 % bootstrap interval (`bench.intervals`'
resampling: mated probes and strangers each drawn again from themselves, 2,000 times). The
look-alike pairs of each gallery are listed. A handful of events makes a wide interval: the
counts say how many there were.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.intervals import LEVEL, RESAMPLES

MARGINS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1)
PER_ENROLLED = 3
RIGHT, WRONG, UNKNOWN = 0, 1, 2
# a wrong name costs as much as this many names not given: it is written into the library
# (tags, sidecars) and must be found before it can be undone, where a face left unknown asks
WRONG_COST = 2

Split = tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]  # enroll, mated, strangers


def cfp_split(splits: tuple[int, ...], leave_out_lfw: bool) -> Split:
    """cfp-dev people of these splits: every other one enrolled (first 3 frontal photos; the
    rest, profiles too, mated probes), the others strangers."""
    from bench.lookalike_faces import cfp_vectors
    from service.settings import get_settings
    from training.cfp import cfp_root, devtest_people, person_of, split_of

    paths, vectors = cfp_vectors()
    left_out = devtest_people(cfp_root(get_settings().data_dir)) if leave_out_lfw else set()
    rows: dict[int, list[int]] = {}
    for i, path in enumerate(paths):
        person = person_of(path)
        if split_of(person) in splits and person not in left_out:
            rows.setdefault(person, []).append(i)  # frontal photos first, then profiles
    enroll, mated, strangers = {}, {}, []
    for k, person in enumerate(sorted(rows)):
        mine = rows[person]
        if k % 2 == 0:
            enroll[f"cfp {person:03d}"] = vectors[mine[:PER_ENROLLED]]
            mated[f"cfp {person:03d}"] = vectors[mine[PER_ENROLLED:]]
        else:
            strangers += mine
    return enroll, mated, vectors[strangers]


def lfw_split() -> Split:
    from bench.lookalike_faces import lfw_vectors
    from bench.open_set import devtest_split

    enroll_paths, mated_paths, stranger_paths = devtest_split()
    order = ([p for ps in enroll_paths.values() for p in ps]
             + [p for ps in mated_paths.values() for p in ps] + stranger_paths)
    vectors = dict(zip(order, lfw_vectors(order), strict=True))
    return ({n: np.stack([vectors[p] for p in ps]) for n, ps in enroll_paths.items()},
            {n: np.stack([vectors[p] for p in ps]) for n, ps in mated_paths.items()},
            np.stack([vectors[p] for p in stranger_paths]))


def with_twins(split: Split) -> Split:
    """The split with an identical twin for each enrolled person with ≥ 4 mated probes left
    after 3: their next 3 photos enrolled under another name (`NAME (twin)`), their probes
    from the 4th on. A twin's name given to such a probe is a misidentification."""
    enroll, mated, strangers = split
    enroll, mated = dict(enroll), dict(mated)
    for name, probes in list(mated.items()):
        if len(probes) >= PER_ENROLLED + 4:
            enroll[f"{name} (twin)"] = probes[:PER_ENROLLED]
            mated[name] = probes[PER_ENROLLED:]
    return enroll, mated, strangers


def gallery_of(home: Path, enroll: dict[str, np.ndarray]):  # -> Gallery
    """A gallery whose people are enrolled with these vectors (a NaN row: no face, left out)."""
    from index.gallery import Gallery
    from index.settings import IndexSettings
    from index.store import NewFace

    g = Gallery(IndexSettings(home=home, lookalike_margin=0.0))
    store = g.store
    with store.transaction():
        for name, vectors in enroll.items():
            person = store.people.add(name)
            for j, v in enumerate(vectors):
                if np.isnan(v[0]):
                    continue
                photo = store.faces.add_photo(f"{name}-{j}".ljust(64, "0"), name, 1, 1)
                face = store.faces.add(NewFace(photo, person, [0, 0, 1, 1], [[0, 0]] * 5, 1.0,
                                               0.0, b"", [[0, 0]] * 5))
                store.embeddings.put(g.model, [face], v[None])
    g.reload()
    return g


def outcomes(g, probes: np.ndarray, truth: list[str | None], threshold: float,
             margin: float) -> np.ndarray:
    """RIGHT, WRONG or UNKNOWN for each probe (`truth` None: a stranger, whom any name is
    wrong for), named by `Matching.match` as a photo of that one face."""
    from faces.detect import Face

    face = Face((0.0, 0.0, 1.0, 1.0), 1.0, np.zeros((5, 2), dtype=np.float32))
    out = np.full(len(probes), UNKNOWN)
    for i, (v, who) in enumerate(zip(probes, truth, strict=True)):
        if np.isnan(v[0]):
            continue
        (m,) = g.matching.match([face], v[None], threshold, g.settings.top_k,
                                lookalike_margin=margin, level=threshold)
        if m.person is not None:
            out[i] = RIGHT if m.person.name == who else WRONG
    return out


def interval(counts: np.ndarray) -> list[float]:
    tail = (1 - LEVEL) / 2 * 100
    return [round(float(np.percentile(counts, q)), 1) for q in (tail, 100 - tail)]


def measure(enroll: dict[str, np.ndarray], mated: dict[str, np.ndarray], strangers: np.ndarray,
            margins: tuple[float, ...], seed: int = 0, threshold: float | None = None
            ) -> dict:
    """The figures of one gallery and its probes, at the threshold in force (or `threshold`,
    which is then the look-alike level too)."""
    probes = np.concatenate([*mated.values(), strangers])
    truth: list[str | None] = [n for n, vs in mated.items() for _ in vs]
    n_mated = len(truth)
    truth += [None] * len(strangers)
    with tempfile.TemporaryDirectory() as home:
        g = gallery_of(Path(home), enroll)
        try:
            threshold = g.threshold() if threshold is None else threshold
            alike = g.lookalikes(threshold)
            without = outcomes(g, probes, truth, threshold, 0.0)
            per_margin = {m: outcomes(g, probes, truth, threshold, m) for m in margins}
        finally:
            g.close(save=False)
    rng = np.random.default_rng(seed)
    draws = np.concatenate([rng.integers(0, n_mated, (RESAMPLES, n_mated)),
                            n_mated + rng.integers(0, len(strangers),
                                                   (RESAMPLES, len(strangers)))], axis=1)
    mated_probe = np.arange(len(probes)) < n_mated

    def figure(events: np.ndarray) -> dict:
        return {"count": int(events.sum()), "interval": interval(events[draws].sum(axis=1))}

    rows = {}
    for m, with_margin in per_margin.items():
        saved_wrong = mated_probe & (without == WRONG) & (with_margin != WRONG)
        saved_strangers = ~mated_probe & (without == WRONG) & (with_margin != WRONG)
        lost = mated_probe & (without == RIGHT) & (with_margin != RIGHT)
        rows[f"{m:g}"] = {
            "misidentifications_saved": figure(saved_wrong),
            "strangers_saved": figure(saved_strangers),
            "correct_lost": figure(lost),
                "fnir": round(float((with_margin[mated_probe] != RIGHT).mean()), 4),
            "fpir": round(float((with_margin[~mated_probe] == WRONG).mean()), 4),
        }
    return {
        "people_enrolled": len(enroll), "mated_probes": n_mated,
        "strangers": len(strangers), "threshold": round(threshold, 4),
        "lookalike_pairs": [[p.name for p in pair.people] + [pair.score]
                            for pair in alike.pairs],
        "without_margin": {
            "misidentified": int(((without == WRONG) & mated_probe).sum()),
            "strangers_named": int(((without == WRONG) & ~mated_probe).sum()),
            "fnir": round(float((without[mated_probe] != RIGHT).mean()), 4),
            "fpir": round(float((without[~mated_probe] == WRONG).mean()), 4)},
        "margins": rows,
    }


def gain(figures: dict, margin: str) -> int:
    """Misidentifications saved at a margin (mated probes and strangers), each counted
    WRONG_COST times, less the correct names it loses."""
    r = figures["margins"][margin]
    return (WRONG_COST * (r["misidentifications_saved"]["count"] + r["strangers_saved"]["count"])
            - r["correct_lost"]["count"])


def chosen(unrelated: dict, twins: dict) -> float:
    """Of the margins that do no harm where people are unrelated (`gain` ≥ 0 there), the one
    that gains most with twins (a tie: the smaller; 0 where none gains)."""
    harmless = [m for m in unrelated["margins"] if gain(unrelated, m) >= 0]
    best = max(harmless, key=lambda m: (gain(twins, m), -float(m)), default=None)
    return float(best) if best is not None and gain(twins, best) > 0 else 0.0


def show(title: str, f: dict) -> None:
    w = f["without_margin"]
    print(f"{title}: {f['people_enrolled']} people enrolled, {f['mated_probes']} mated probes, "
          f"{f['strangers']} strangers; threshold in force {f['threshold']}; "
          f"{len(f['lookalike_pairs'])} look-alike pairs")
    print(f"  without a margin: {w['misidentified']} mated probes named wrong, "
          f"{w['strangers_named']} strangers named (FNIR {w['fnir']:.4f}, FPIR {w['fpir']:.4f})")
    for m, r in f["margins"].items():
        a, b, c = r["misidentifications_saved"], r["strangers_saved"], r["correct_lost"]
        print(f"  margin {m:>5}: misidentifications saved {a['count']} {a['interval']}, "
              f"strangers saved {b['count']} {b['interval']}, correct names lost "
              f"{c['count']} {c['interval']} (FNIR {r['fnir']:.4f}, FPIR {r['fpir']:.4f})")


def scale(faces: int, seed: int = 0) -> dict:
    """Seconds for the look-alikes of a gallery of `faces` synthetic faces (4 a person, random
    vectors of the model's size): the first question (every face searched), then the question
    after one more person is enrolled (their faces searched), then one with nothing new."""
    from index.store import NewFace

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as home:
        g = gallery_of(Path(home), {})
        dim, store = g.embedder.dim, g.store
        people = store.people.add_all([f"synthetic {k}" for k in range(faces // 4)])
        photo = store.faces.add_photo("synthetic".ljust(64, "0"), "synthetic", 1, 1)
        owner = np.repeat(np.arange(len(people)), 4)
        centres = rng.standard_normal((len(people), dim), dtype=np.float32)
        x = centres[owner] + 0.75 * rng.standard_normal((len(owner), dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        with store.transaction():
            ids = store.faces.add_all([NewFace(photo, people[o], [0, 0, 1, 1], [[0, 0]] * 5,
                                               1.0, 0.0, b"", [[0, 0]] * 5)
                                       for o in owner.tolist()])
            store.embeddings.put(g.model, ids, x)
        g.reload()
        times = {}
        for step in ("first", "after_one_enrolled", "unchanged"):
            if step == "after_one_enrolled":
                gallery_of_one(g, rng.standard_normal((4, dim)).astype(np.float32))
            start = time.perf_counter()
            g.lookalikes(0.5)
            times[step] = round(time.perf_counter() - start, 4)
        g.close(save=False)
    return {"faces": len(owner), **times}


def gallery_of_one(g, vectors: np.ndarray) -> None:  # g: Gallery
    """Enroll one more person with these vectors, straight into the store."""
    from index.store import NewFace

    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    person = g.store.people.add("one more")
    photo = g.store.faces.add_photo("one more".ljust(64, "0"), "one more", 1, 1)
    ids = g.store.faces.add_all([NewFace(photo, person, [0, 0, 1, 1], [[0, 0]] * 5, 1.0, 0.0,
                                         b"", [[0, 0]] * 5) for _ in vectors])
    g.store.embeddings.put(g.model, ids, vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--choose", action="store_true", help="measure the data the margin "
                        "is chosen on: cfp-dev splits 1–3, less LFW DevTest people")
    parser.add_argument("--splits", default="4,5", help="cfp-dev splits reported")
    parser.add_argument("--twins", action="store_true", help="only LFW DevTest with identical "
                        "twins: each person with 7 or more probes enrolled again under another "
                        "name with 3 of them (`with_twins`)")
    parser.add_argument("--scale", type=int, default=0, metavar="FACES", help="only the time "
                        "the look-alikes of a gallery of this many synthetic faces take")
    parser.add_argument("--margins", default=",".join(f"{m:g}" for m in MARGINS))
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    margins = tuple(float(m) for m in args.margins.split(","))
    start = time.perf_counter()
    figures: dict = {}
    if args.scale:
        figures["scale"] = scale(args.scale)
        print(f"look-alikes of {figures['scale']['faces']} faces: " + ", ".join(
            f"{k} {v:.3f} s" for k, v in figures["scale"].items() if k != "faces"))
    elif args.twins:
        plain = lfw_split()
        with tempfile.TemporaryDirectory() as home:  # the threshold of the gallery without
            g = gallery_of(Path(home), plain[0])    # twins: they raise its own estimate
            figures["threshold_without_twins"] = round(g.threshold(), 4)
            g.close(save=False)
        twins = with_twins(plain)
        figures["lfw_devtest_twins"] = measure(*twins, margins,
                                               threshold=figures["threshold_without_twins"])
        show(f"LFW DevTest with {sum(n.endswith('(twin)') for n in twins[0])} identical twins",
             figures["lfw_devtest_twins"])
    elif args.choose:
        plain = cfp_split((1, 2, 3), leave_out_lfw=True)
        figures["cfp_choose"] = measure(*plain, margins)
        show("cfp-dev splits 1–3 (less LFW DevTest people)", figures["cfp_choose"])
        twins = with_twins(plain)
        figures["cfp_choose_twins"] = measure(*twins, margins,
                                              threshold=figures["cfp_choose"]["threshold"])
        show(f"the same with {sum(n.endswith('(twin)') for n in twins[0])} identical twins",
             figures["cfp_choose_twins"])
        figures["chosen_margin"] = chosen(figures["cfp_choose"], figures["cfp_choose_twins"])
        print(f"chosen margin: {figures['chosen_margin']:g}")
    else:
        splits = tuple(int(s) for s in args.splits.split(","))
        figures["cfp"] = measure(*cfp_split(splits, leave_out_lfw=False), margins)
        show(f"cfp-dev splits {args.splits}", figures["cfp"])
        figures["lfw_devtest"] = measure(*lfw_split(), margins)
        show("LFW DevTest", figures["lfw_devtest"])
    figures["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
