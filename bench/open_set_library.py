"""Open-set identification with every probe in one library: `tag` (the album's own context)
against per-photo `identify`, on the same photos.

    .venv/bin/python -m bench.open_set_library [--people devtest|cfp]
        [--conditions lfw|album [--seed S]] [--band B --link-far F --support N --margin M]
        [--choose]
        [--quality-floor Q] [--threads N] [--fresh] [--json]

The people are `bench.open_set`'s (`devtest`: LFW DevTest, each person with ≥ 4 photos
enrolled with 3, their other photos mated probes, the people with fewer photos strangers), or
(`cfp`, on whom the context's rule is chosen) the cfp-dev people who are not LFW DevTest
people (`cfp_split`). Every probe photo is copied into one library, which `facepair tag` tags
with the gallery's threshold in force; a probe's face is the one nearest its photo's centre.

- identify: a probe is named as its best person when that person's score reaches the
  threshold (what `identify` answers for each photo alone, and what `tag` records before its
  context stage).
- tag: the same, and then the context stage (`index.album.context`) over the library.
FNIR at FPIR 1, 2 and 5 % for both, with 90 % bootstrap intervals and the paired difference
(`bench.intervals`). For `tag` a probe's score is the highest threshold (steps of 0.001) at
which it is named, and its name the one given there. Also FPIR and FNIR at the threshold in
force. `--choose` tries the rules of a small grid in plain and album conditions, prints each,
and the one `choose` picks; the faces the tag run recorded are kept in `bench.CACHE`
(`--fresh` tags again).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import CACHE, anchor
from bench.intervals import Scores, fnir_at_fpir, paired
from bench.open_set import split

GRID_STEP = 0.001
PROMISE_SLACK = 0.005  # FPIR at the threshold in force: tag's may be this much over identify's


def cfp_split(conditions: str = "lfw", seed: int = 0) -> tuple[
        dict[str, list[Path]], dict[str, list[Path]], list[Path]]:
    """The cfp-dev people who are not LFW DevTest people (no model of facepair's trained on
    CFP): half of them (a hash of the number) enrolled with frontal photos 1–3, their other 7
    frontal and 4 profile photos mated probes; the other half strangers, every photo."""
    from service.settings import get_settings
    from training.cfp import cfp_root, devtest_people, person_of, photos
    from training.data import person_share

    root = cfp_root(get_settings().data_dir)
    frontal, profile = photos(root)
    excluded = devtest_people(root)
    enroll: dict[str, list[Path]] = {}
    mated: dict[str, list[Path]] = {}
    strangers: list[Path] = []
    for person in sorted({person_of(p) for p in frontal} - excluded):
        f = sorted(p for p in frontal if person_of(p) == person)
        pr = sorted(p for p in profile if person_of(p) == person)
        if person_share(str(person), 0) < 0.5:
            enroll[f"{person:03d}"], mated[f"{person:03d}"] = f[:3], f[3:] + pr
        else:
            strangers += f + pr
    if conditions == "album":
        from bench.album_conditions import album_split

        return album_split((enroll, mated, strangers), seed,
                           lambda p: f"cfp/{person_of(p):03d}/{p.parent.name}/{p.name}")
    return enroll, mated, strangers


def enrolled(home: Path, enroll: dict[str, list[Path]], floor: float | None = None):
    """A gallery in `home` with these people enrolled (a photo without a usable face is
    left out); `floor`: the quality floor, if not the settings' default."""
    from index.gallery import Gallery
    from index.settings import DEFAULTS

    settings = DEFAULTS if floor is None else DEFAULTS.model_copy(
        update={"quality_floor": floor})
    g = Gallery(settings=settings, home=home)
    for name, photos in enroll.items():
        for p in photos:
            try:
                g.enroll(name, p, face="center")
            except Exception:  # no face, or none usable: not enrolled
                continue
    return g


def tagged(enroll, mated, strangers, threads: int, key: str, fresh: bool,
           floor: float | None = None) -> dict:
    """Enroll, copy the probes into one library and tag it; what was recorded of every face
    (cached under `key`)."""
    cached = CACHE / f"open_set_library_{key}.npz"
    if cached.exists() and not fresh:
        return dict(np.load(cached, allow_pickle=False))
    from index.album.tagger import AlbumTagger

    probes = [(n, p) for n, ps in mated.items() for p in ps] + [("", p) for p in strangers]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        g = enrolled(Path(home), enroll, floor)
        library = Path(home) / "library"
        library.mkdir()
        truth = {}
        for i, (name, p) in enumerate(probes):
            shutil.copyfile(p, library / f"{i:05d}.jpg")
            truth[f"{i:05d}.jpg"] = name
        run = AlbumTagger(g, workers=threads).run(library)
        table = g.store.albums.face_table(g.model)
        people = {p.id: p.name for p in g.people()}
        _, owners, vectors = g.matching.embedded()
        threshold = g.threshold()
        card = {far: g.threshold(far=far) for far in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)}
        g.close()
    seconds = time.perf_counter() - start
    photo = [table.photos[int(p)] for p in table.photo_ids]
    names = np.array(["", *sorted(people.values())])
    index = {pid: int(np.searchsorted(names, n)) for pid, n in people.items()}
    by_context = np.array([b == "context" for b in table.named_by])
    best = np.where((table.person_ids >= 0) & ~by_context, table.person_ids,
                    np.where(by_context, table.person_ids, table.candidate_ids))
    found = {
        "names": names,
        "photo": np.array([Path(s.split(":", 1)[1]).name for s, _, _ in photo]),
        "centre": np.array([((b[0] + b[2]) / 2 - w / 2) ** 2 + ((b[1] + b[3]) / 2 - h / 2) ** 2
                            for b, (_, w, h) in zip(table.boxes, photo, strict=True)]),
        "best": np.array([index.get(int(p), 0) for p in best]),
        "score": table.similarity,
        "vectors": table.vectors,
        "truth_photo": np.array(list(truth)),
        "truth_name": np.array([int(np.searchsorted(names, n)) if n else 0
                                for n in truth.values()]),
        "enrolled_people": np.array([index[int(p)] for p in owners]),
        "enrolled_vectors": vectors,
        "threshold": np.array(threshold),
        "card": np.array(json.dumps(card)),
        "run": np.array(json.dumps({**run, "seconds": round(seconds, 1)})),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cached, **found)
    return found


def evaluate(found: dict, rule, threshold: float | None = None) -> dict:
    """identify and tag's figures for one context rule."""
    from index.album.context import Faces, supported

    photos, photo_ids = np.unique(found["photo"], return_inverse=True)
    best, score = found["best"], found["score"]
    # each probe photo's face nearest the centre (-1: no face found)
    probe_row = np.full(len(found["truth_photo"]), -1)
    where = {p: i for i, p in enumerate(found["truth_photo"].tolist())}
    order = np.lexsort((found["centre"], photo_ids))
    seen = set()
    for row in order.tolist():
        p = int(photo_ids[row])
        if p not in seen:
            seen.add(p)
            probe_row[where[str(photos[p])]] = row
    truth = found["truth_name"]
    mated, strangers = truth > 0, truth == 0
    has = probe_row >= 0
    probe_score = np.where(has, score[probe_row], np.nan)
    probe_best = np.where(has, best[probe_row], -1)

    enrolled, owners = found["enrolled_vectors"], found["enrolled_people"]

    def person_score(rows: np.ndarray, people: np.ndarray) -> np.ndarray:
        """Each row's best cosine with the enrolled faces of its person."""
        cos = found["vectors"][rows] @ enrolled.T
        return np.where(owners[None, :] == people[:, None], cos, -np.inf).max(axis=1)

    def named_at(t: float) -> np.ndarray:
        """Each face's name at `t` after the context stage (0: no one)."""
        named = np.where(score >= t, best, 0)
        faces = Faces(photo_ids, np.where(named > 0, named, -1), np.where(named > 0, -1, best),
                      score, found["vectors"])
        for row, person in supported(faces, t, rule, person_score).items():
            named[row] = person
        return named

    # tag: a probe's score is the highest threshold at which it is named
    ordered = np.sort(score[~np.isnan(score)])
    grid = np.arange(np.quantile(ordered, 0.5), ordered[-1] + GRID_STEP, GRID_STEP)[::-1]
    tag_score, tag_name = probe_score.copy(), probe_best.copy()
    for t in grid.tolist():
        named = np.where(has, named_at(t)[probe_row], 0)
        new = (named > 0) & ~(probe_score >= t) & ~(tag_score >= t)
        tag_score[new], tag_name[new] = t, named[new]
    identify = Scores(probe_score[mated], probe_best[mated] == truth[mated],
                      probe_score[strangers])
    tag = Scores(tag_score[mated], tag_name[mated] == truth[mated], tag_score[strangers])
    t0 = float(found["threshold"]) if threshold is None else threshold

    def at(s: Scores) -> dict:
        named = lambda x: np.nan_to_num(x, nan=-np.inf) >= t0  # noqa: E731
        return {"fpir": round(float(named(s.stranger_best).mean()), 4),
                "fnir": round(float(1 - (named(s.mated_best) & s.mated_right).mean()), 4)}

    return {"rule": {"band": rule.band, "support": rule.support, "margin": rule.margin},
            "identify": {"at_threshold": at(identify), "fnir_at_fpir": fnir_at_fpir(identify)},
            "tag": {"at_threshold": at(tag), "fnir_at_fpir": fnir_at_fpir(tag)},
            "tag_less_identify": paired(tag, identify)}


def line(name: str, figures: dict) -> str:
    return f"{name:9s} " + ", ".join(
        f"FNIR@FPIR{k}: {v['fnir']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"
        for k, v in figures["fnir_at_fpir"].items()) + (
        f"; at the threshold FPIR {figures['at_threshold']['fpir']:.4f} "
        f"FNIR {figures['at_threshold']['fnir']:.4f}")


def main() -> None:
    from index.album.context import ContextRule, card_links
    from index.settings import DEFAULTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", choices=("devtest", "cfp"), default="devtest")
    parser.add_argument("--conditions", choices=("lfw", "album"), default="album")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--band", type=float, default=DEFAULTS.context_band)
    parser.add_argument("--link-far", type=float, default=DEFAULTS.context_link_far,
                        help="confident links from the card's threshold at this pair FAR")
    parser.add_argument("--support", type=int, default=DEFAULTS.context_support)
    parser.add_argument("--margin", type=float, default=DEFAULTS.context_margin,
                        help="the gallery's names support others from this far over the "
                        "threshold")
    parser.add_argument("--choose", action="store_true", help="try a grid of rules")
    parser.add_argument("--quality-floor", type=float, default=DEFAULTS.quality_floor,
                        help="the gallery's quality floor (0: none)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--fresh", action="store_true", help="tag again, not from the cache")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    os.environ.update(anchor.thread_env(args.threads))
    people = cfp_split if args.people == "cfp" else split
    from faces.embed import model_paths  # the model's file: a new export is tagged again

    model = model_paths(DEFAULTS.model)[0]
    grid = [(b, far, s, m) for b in (0.02, 0.04, 0.08) for far in (1e-4, 1e-3, 1e-2)
            for s in (3, 2, 1) for m in (0.0, 0.01, 0.02)] if args.choose else [
        (args.band, args.link_far, args.support, args.margin)]
    figures: dict = {"people": args.people, "conditions": {}}
    for conditions in ("lfw", "album") if args.choose else (args.conditions,):
        enroll, mated, strangers = people(conditions, args.seed)
        key = (f"{args.people}_{conditions}_{args.seed}_floor{args.quality_floor:g}_"
               f"{model.stem}_{int(model.stat().st_mtime)}")
        found = tagged(enroll, mated, strangers, args.threads, key, args.fresh,
                       args.quality_floor)
        here = figures["conditions"][conditions] = {
            "people_enrolled": len(enroll),
            "mated_probes": int((found["truth_name"] > 0).sum()),
            "strangers": int((found["truth_name"] == 0).sum()),
            "threshold": round(float(found["threshold"]), 4),
            "tag_run": json.loads(str(found["run"])), "rules": []}
        print(f"{args.people} people ({conditions} conditions), one library: "
              f"{here['people_enrolled']} enrolled, {here['mated_probes']} mated probes, "
              f"{here['strangers']} strangers; threshold in force {here['threshold']}")
        card = {str(float(k)): v for k, v in json.loads(str(found["card"])).items()}
        for band, far, support, margin in grid:  # narrowest band, strictest link first
            result = evaluate(found, ContextRule(band, card_links(card, far), support, margin))
            result["rule"]["link_far"] = far
            here["rules"].append(result)
            print(f"band {band} link_far {far:g} support {support} margin {margin}")
            print(line("identify", result["identify"]))
            print(line("tag", result["tag"]))
            print("tag less identify (paired): " + ", ".join(
                f"{k}: {v['difference']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]"
                for k, v in result["tag_less_identify"].items()))
    if args.choose:
        figures["chosen"] = choose(figures["conditions"])
        print(f"chosen: {figures['chosen']}")
    if args.json:
        print(json.dumps(figures))


def choose(conditions: dict, slack: float = PROMISE_SLACK) -> dict:
    """The rule that keeps the threshold's promise in both conditions (FPIR at the threshold
    in force at most `slack` above per-photo identify's) and misses fewest known faces at the
    same FPIR (the mean paired difference at FPIR 1, 2 and 5 %, both conditions); of equals,
    the first of the grid (the narrowest band, the strictest link)."""
    def kept(r: dict) -> bool:
        return (r["tag"]["at_threshold"]["fpir"]
                <= r["identify"]["at_threshold"]["fpir"] + slack)

    both = list(zip(*(c["rules"] for c in conditions.values()), strict=True))
    fine = [rules for rules in both if all(kept(r) for r in rules)]
    if not fine:
        return {}
    best = min(fine, key=lambda rules: round(float(np.mean(
        [v["difference"] for r in rules for v in r["tag_less_identify"].values()])), 4))
    return {**best[0]["rule"], "mean_difference": round(float(np.mean(
        [v["difference"] for r in best for v in r["tag_less_identify"].values()])), 4)}


if __name__ == "__main__":
    main()
