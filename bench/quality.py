"""The quality floor: chosen on LFW DevTrain people, then measured on LFW DevTest people.

    .venv/bin/python -m bench.quality [--target 0.02] [--floor F [--only devtest]]
        [--conditions plain|album]… [--seed S] [--threads N] [--json]

A face whose quality (`faces.quality`) is under the floor (`FACEPAIR_QUALITY_FLOOR`) is
answered as unrecognisable: not named, and not enrolled.

- **Choosing** (DevTrain, never DevTest): the people training holds out (`CropSet`: 2–10
  photos and a hash of the name under 0.2, `training.data.person_share`), those with ≥ 4 photos
  enrolled with their first 3 and probed with the rest, the others (and the single-photo
  people under the same hash, whom training never sees) as strangers. The floor is the
  highest of 0.00, 0.01, … that sets aside at most `--target` (default 2 %) of the faces of
  the plain LFW photos (faces a person would recognise), the centre face of every photo of
  the split. The trade-off is printed for every candidate up to it: the share of plain and of
  album faces set aside, and the album strangers left named at the default threshold of a
  gallery without the floor. `--floor F` skips the choice.
- **Measuring** (DevTrain, then DevTest: `bench.open_set.devtest_split`), in plain and album
  conditions (`bench.album_conditions`, seed `--seed`): the share of faces set aside (all
  photos of the split), and FPIR and FNIR at the default threshold (the one in force,
  `Gallery.estimate`) of two galleries enrolled through `Gallery.enroll`, one without the floor
  and one with it (which refuses to enroll faces under it and answers probes under it as
  unrecognisable: a stranger so answered is not named, a known person so answered is missed).
  Each with its 95 % interval (Wilson), and the difference with less without, paired (probes
  resampled 2,000 times, 90 % interval); FNIR at FPIR 1, 2 and 5 % (`bench.intervals`). The
  default threshold follows the gallery (the card's at a pair rate of FPIR / enrolled faces,
  or the gallery's own estimate where stricter), so the floor moves it too: the gallery with
  the floor is also measured at the threshold of the one without it, which isolates what the
  floor itself does.

A probe's face is the one nearest the centre; a probe without a face counts as a rejection
(stranger) or a miss (known person), as in `bench.open_set`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.album_conditions import album_split
from bench.intervals import Scores, fnir_at_fpir
from bench.open_set import devtest_split
from bench.photos import lfw_dir

Split = tuple[dict[str, list[Path]], dict[str, list[Path]], list[Path]]
GRID = np.round(np.arange(0.0, 1.0, 0.01), 2)
RESAMPLES, LEVEL = 2000, 0.90


def devtrain_split(holdout: float = 0.2, seed: int = 0) -> Split:
    """The DevTrain people training holds out (`training.data.CropSet`): enroll photos per
    person, mated probes per person, and strangers' photos (theirs and single-photo people's
    under the same hash)."""
    from training.data import person_share

    root = lfw_dir()
    lines = (root.parent / "peopleDevTrain.txt").read_text().splitlines()[1:]
    enroll, mated, strangers = {}, {}, []
    for line in lines:
        name, count = line.split("\t")
        n = int(count)
        if n > 10 or person_share(name, seed) >= holdout:
            continue
        photos = [root / name / f"{name}_{i:04d}.jpg" for i in range(1, n + 1)]
        if n >= 4:
            enroll[name], mated[name] = photos[:3], photos[3:]
        else:
            strangers += photos
    return enroll, mated, strangers


def all_photos(split: Split) -> list[Path]:
    enroll, mated, strangers = split
    return ([p for ps in enroll.values() for p in ps] + [p for ps in mated.values() for p in ps]
            + strangers)


class Faces:
    """Each photo's centre face: its quality (NaN: no face) and embedding."""

    def __init__(self, paths: list[Path], detector, embedder) -> None:
        from faces.decode import decode
        from faces.detect import pick_face

        self.paths = paths
        self.index = {p: i for i, p in enumerate(paths)}
        self.quality = np.full(len(paths), np.nan)
        self.vectors = np.zeros((len(paths), embedder.dim), np.float32)
        for i, p in enumerate(paths):
            photo = decode(p)
            face = pick_face(detector.detect(photo), photo.shape, "center")
            if face is None:
                continue
            assert face.quality is not None
            self.quality[i] = face.quality
            self.vectors[i] = embedder.embed_faces(photo, [face])[0]

    def set_aside(self, floor: float) -> float:
        """The share of the faces found that are under the floor."""
        found = self.quality[~np.isnan(self.quality)]
        return float((found < floor).mean())


def wilson_interval(count: int, of: int) -> list[float]:
    from index.calibration import wilson

    low, high = wilson(count, of)
    return [round(low, 4), round(high, 4)]


def paired_difference(without: np.ndarray, with_: np.ndarray, seed: int = 0) -> dict:
    """The mean of `with_` less that of `without` (booleans per probe), with a 90 % interval
    from the probes resampled."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(without), (RESAMPLES, len(without)))
    diffs = with_[draws].mean(axis=1) - without[draws].mean(axis=1)
    tail = (1 - LEVEL) / 2
    return {"difference": round(float(with_.mean() - without.mean()), 4),
            "low": round(float(np.quantile(diffs, tail)), 4),
            "high": round(float(np.quantile(diffs, 1 - tail)), 4)}


def gallery_run(split: Split, faces: Faces, floor: float, model: str | None) -> dict:
    """One gallery with this floor: enrolled, then the probes named at its threshold in
    force; per probe whether it was named (strangers) or named right (known people)."""
    from faces.errors import FacepairError
    from index.gallery import Gallery
    from index.settings import DEFAULTS

    enroll, mated, strangers = split
    settings = DEFAULTS.model_copy(update={"quality_floor": floor})
    with tempfile.TemporaryDirectory() as home:
        g = Gallery(settings, home=Path(home), model=model)
        refused: dict[str, int] = {}
        for name, photos in enroll.items():
            for p in photos:
                try:
                    g.enroll(name, p, face="center")
                except FacepairError as exc:
                    code = getattr(exc, "code", type(exc).__name__)
                    refused[code] = refused.get(code, 0) + 1
        estimate = g.estimate()
        threshold = estimate.threshold

        def best(paths: list[Path]) -> tuple[np.ndarray, list[str | None]]:
            rows = [faces.index[p] for p in paths]
            quality = faces.quality[rows]
            scores = np.full(len(paths), np.nan)
            names: list[str | None] = [None] * len(paths)
            told = np.flatnonzero(~np.isnan(quality) & (quality >= floor))
            candidates = g.person_scores(faces.vectors[rows][told], 1) if len(told) else []
            for i, cands in zip(told.tolist(), candidates, strict=True):
                if cands:
                    scores[i], names[i] = cands[0].score, cands[0].person.name
                else:
                    scores[i] = -1.0
            return scores, names

        probes = [(n, p) for n, ps in mated.items() for p in ps]
        mated_best, top = best([p for _, p in probes])
        mated_right = np.array([t == n for (n, _), t in zip(probes, top, strict=True)])
        stranger_best, _ = best(strangers)
        enrolled = g.store.meta.counts()["faces"]
        g.close()
    named, missed = at(threshold, mated_best, mated_right, stranger_best)
    return {"floor": floor, "threshold": round(float(threshold), 4),
            "source": estimate.source, "card_threshold": round(estimate.card_threshold, 4),
            "gallery_threshold": None if estimate.gallery_threshold is None
            else round(estimate.gallery_threshold, 4),
            "enrolled_faces": enrolled, "enroll_refused": refused,
            "fpir": round(float(named.mean()), 4),
            "fpir_interval": wilson_interval(int(named.sum()), len(named)),
            "fnir": round(float(missed.mean()), 4),
            "fnir_interval": wilson_interval(int(missed.sum()), len(missed)),
            "fnir_at_fpir": fnir_at_fpir(Scores(mated_best, mated_right, stranger_best)),
            "_named": named, "_missed": missed,
            "_scores": (mated_best, mated_right, stranger_best)}


def at(threshold: float, mated_best: np.ndarray, mated_right: np.ndarray,
       stranger_best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per probe at a threshold: strangers named, known people missed (NaN: no face, or
    unrecognisable)."""
    named = ~np.isnan(stranger_best) & (np.nan_to_num(stranger_best, nan=-2) >= threshold)
    hit = ~np.isnan(mated_best) & (np.nan_to_num(mated_best, nan=-2) >= threshold) & mated_right
    return named, ~hit


def measure(split: Split, faces: Faces, floor: float, model: str | None) -> dict:
    """Without and with the floor, and the paired differences."""
    without = gallery_run(split, faces, 0.0, model)
    with_ = gallery_run(split, faces, floor, model)
    named, missed = at(without["threshold"], *with_["_scores"])
    out = {"set_aside": round(faces.set_aside(floor), 4),
           "faces": int((~np.isnan(faces.quality)).sum()),
           "fpir_difference": paired_difference(without["_named"], with_["_named"]),
           "fnir_difference": paired_difference(without["_missed"], with_["_missed"]),
           # the floor's gallery and probes at the threshold of the gallery without it
           "with_at_same_threshold": {
               "fpir": round(float(named.mean()), 4),
               "fpir_interval": wilson_interval(int(named.sum()), len(named)),
               "fnir": round(float(missed.mean()), 4),
               "fnir_interval": wilson_interval(int(missed.sum()), len(missed)),
               "fpir_difference": paired_difference(without["_named"], named),
               "fnir_difference": paired_difference(without["_missed"], missed)}}
    for run in (without, with_):
        for key in ("_named", "_missed", "_scores"):
            run.pop(key)
    return {**out, "without": without, "with": with_}


def choose(plain: Faces, target: float) -> float:
    """The highest floor of GRID that sets aside at most `target` of the plain faces."""
    return float(max(f for f in GRID if plain.set_aside(f) <= target))


def trade_off(plain: Faces, album: Faces, split: Split, floor: float,
              model: str | None) -> list[dict]:
    """For floors up to the one chosen: plain and album faces set aside, and the album
    strangers a gallery without the floor names at its threshold, once those under each
    floor are answered unrecognisable."""
    from faces.errors import FacepairError
    from index.gallery import Gallery
    from index.settings import DEFAULTS

    enroll, _, strangers = split
    settings = DEFAULTS.model_copy(update={"quality_floor": 0.0})
    with tempfile.TemporaryDirectory() as home:
        g = Gallery(settings, home=Path(home), model=model)
        for name, photos in enroll.items():
            for p in photos:
                with contextlib.suppress(FacepairError):
                    g.enroll(name, p, face="center")
        threshold = g.estimate().threshold
        rows = [album.index[p] for p in strangers]
        quality = album.quality[rows]
        found = np.flatnonzero(~np.isnan(quality))
        best = np.full(len(rows), -2.0)
        for i, cands in zip(found.tolist(), g.person_scores(album.vectors[rows][found], 1),
                            strict=True):
            best[i] = cands[0].score if cands else -1.0
        g.close()
    table = []
    for f in sorted({round(float(f), 2) for f in GRID[::5] if f <= floor} | {floor}):
        named = (best >= threshold) & ~np.isnan(quality) & (np.nan_to_num(quality) >= f)
        table.append({"floor": round(f, 2), "plain_set_aside": round(plain.set_aside(f), 4),
                      "album_set_aside": round(album.set_aside(f), 4),
                      "album_fpir": round(float(named.mean()), 4)})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.02,
                        help="the most of the plain DevTrain faces the floor may set aside")
    parser.add_argument("--floor", type=float, default=None, help="skip the choice")
    parser.add_argument("--seed", type=int, default=0, help="album conditions' seed")
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=("devtest",), default=None,
                        help="devtest: measure DevTest alone, at --floor")
    parser.add_argument("--conditions", choices=("plain", "album"), action="append",
                        help="measure these conditions only (default: both)")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    if args.only and args.floor is None:
        parser.error("--only devtest needs --floor")
    conditions = args.conditions or ["plain", "album"]
    import torch

    from faces.detect import Detector
    from faces.embed import Embedder
    from index.settings import DEFAULTS

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    detector = Detector(DEFAULTS)
    embedder = Embedder(args.model or DEFAULTS.model, DEFAULTS.device, DEFAULTS.models_dir)
    figures: dict = {"model": embedder.name, "seed": args.seed, "target": args.target}
    floor = args.floor
    parts = [("devtest", devtest_split())] if args.only else [
        ("devtrain", devtrain_split()), ("devtest", devtest_split())]
    for part, plain_split in parts:
        album_split_ = album_split(plain_split, args.seed)
        splits = {"plain": plain_split, "album": album_split_}
        found = {c: Faces(all_photos(splits[c]), detector, embedder) for c in
                 (["plain", "album"] if part == "devtrain" and floor is None else conditions)}
        if part == "devtrain":
            plain, album = found["plain"], found["album"]
            floor = args.floor if args.floor is not None else choose(plain, args.target)
            figures["floor"] = floor
            figures["chosen"] = "given" if args.floor is not None else (
                f"the highest floor setting aside at most {args.target:.0%} of the plain "
                "DevTrain faces")
            figures["trade_off"] = trade_off(plain, album, album_split_, floor, args.model)
        assert floor is not None
        enroll, mated, strangers = plain_split
        figures[part] = {
            "people_enrolled": len(enroll), "mated_probes": sum(map(len, mated.values())),
            "non_mated_probes": len(strangers),
            **{c: measure(splits[c], found[c], floor, args.model) for c in conditions}}
        report(part, figures)
    figures["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(figures))


def report(part: str, figures: dict) -> None:
    if part == "devtrain" and "trade_off" in figures:
        print(f"floor {figures['floor']:.2f}: {figures['chosen']} ({figures['model']})")
        print("  DevTrain trade-off (gallery without the floor, album strangers):")
        for row in figures["trade_off"]:
            print(f"    floor {row['floor']:.2f}: plain faces set aside "
                  f"{row['plain_set_aside']:.2%}, album {row['album_set_aside']:.2%}; "
                  f"album FPIR {row['album_fpir']:.2%}")
    f = figures[part]
    print(f"LFW {part}: {f['people_enrolled']} people enrolled (3 photos each), "
          f"{f['mated_probes']} mated and {f['non_mated_probes']} non-mated probes")
    for conditions in ("plain", "album"):
        if conditions not in f:
            continue
        m = f[conditions]
        print(f"  {conditions}: faces set aside {m['set_aside']:.2%} of {m['faces']}")
        for key in ("without", "with"):
            r = m[key]
            print(f"    {key:7s} floor {r['floor']:.2f}: threshold {r['threshold']:.4f} "
                  f"({r['source']}'s; card {r['card_threshold']}, gallery "
                  f"{r['gallery_threshold']}), "
                  f"enrolled {r['enrolled_faces']} (refused {r['enroll_refused']}); "
                  f"FPIR {r['fpir']:.2%} [{r['fpir_interval'][0]:.2%}, "
                  f"{r['fpir_interval'][1]:.2%}], FNIR {r['fnir']:.2%} "
                  f"[{r['fnir_interval'][0]:.2%}, {r['fnir_interval'][1]:.2%}]; FNIR at FPIR "
                  + ", ".join(f"{k}: {v['fnir']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"
                              for k, v in r["fnir_at_fpir"].items()))
        for key in ("fpir", "fnir"):
            d = m[f"{key}_difference"]
            print(f"    {key.upper()} with less without (paired, 90 %): "
                  f"{d['difference']:+.2%} [{d['low']:+.2%}, {d['high']:+.2%}]")
        s = m["with_at_same_threshold"]
        print(f"    with the floor at the threshold without it: FPIR {s['fpir']:.2%} "
              f"[{s['fpir_interval'][0]:.2%}, {s['fpir_interval'][1]:.2%}] "
              f"({s['fpir_difference']['difference']:+.2%} [{s['fpir_difference']['low']:+.2%}, "
              f"{s['fpir_difference']['high']:+.2%}]), FNIR {s['fnir']:.2%} "
              f"[{s['fnir_interval'][0]:.2%}, {s['fnir_interval'][1]:.2%}] "
              f"({s['fnir_difference']['difference']:+.2%} [{s['fnir_difference']['low']:+.2%}, "
              f"{s['fnir_difference']['high']:+.2%}])")


if __name__ == "__main__":
    main()
