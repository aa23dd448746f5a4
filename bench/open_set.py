"""Open-set identification on LFW DevTest people: facepair's gallery against face_recognition.

    .venv/bin/python -m bench.open_set [--conditions lfw|album [--seed S]] [--threads N] [--json]

Every DevTest person with ≥ 4 photos is enrolled with their first 3 photos (facepair: through
`Gallery.enroll`; face_recognition: its encodings). Probes: their other photos (mated) and every
photo of the DevTest people with fewer than 4 photos (never enrolled, non-mated). A probe photo's
face is the one nearest the centre, found by each system's own detector.

- rank-1: mated probes whose best person is right (no threshold).
- FNIR at FPIR 1 %: the threshold that names 1 % of non-mated probes; the share of mated probes
  not named correctly at it. Also at FPIR 1, 2 and 5 % with 90 % bootstrap intervals (probes
  resampled, `bench.intervals`), and facepair's less face_recognition's, paired (the same
  resamples for both).
- At the default threshold (facepair: the card's threshold at a pair rate of FPIR 1 % / enrolled
  faces, see `Gallery.threshold`; face_recognition: distance 0.6, its default tolerance): FPIR
  (non-mated probes named) and FNIR (mated probes not named right). For facepair also at the
  card's threshold for pair FAR 1e-3 (what a one-to-one threshold would give).
- At the card's threshold (pair rate FPIR 1 % / enrolled faces) and at the gallery's own
  (`index.calibration`: the enrolled faces as strangers to each other), each with FPIR and
  FNIR, and the gallery's estimate of FPIR and FNIR at the threshold in force.
`--conditions album` runs the same split on album-like twins of every photo, enrollments and
probes alike (`bench.album_conditions`: faces of 24–48 px enlarged, ±25° roll, JPEG quality
20–40, blur, grey, dim light): a domain shift on which no card was measured.
face_recognition's encodings are cached in `bench.CACHE` (keyed by the photo list); delete them
to re-measure its time.
A person's score is the best over their enrolled faces for both (face_recognition: the smallest
distance). A mated probe where no face was found counts as a miss; a non-mated one as a rejection.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import CACHE, anchor
from bench.intervals import Scores, fnir_at_fpir, paired
from bench.photos import lfw_dir


def devtest_split() -> tuple[dict[str, list[Path]], dict[str, list[Path]], list[Path]]:
    """(enroll photos per person, mated probes per person, non-mated probes)."""
    root = lfw_dir()
    lines = (root.parent / "peopleDevTest.txt").read_text().splitlines()[1:]
    enroll, mated, strangers = {}, {}, []
    for line in lines:
        name, count = line.split("\t")
        photos = [root / name / f"{name}_{i:04d}.jpg" for i in range(1, int(count) + 1)]
        if len(photos) >= 4:
            enroll[name], mated[name] = photos[:3], photos[3:]
        else:
            strangers += photos
    return enroll, mated, strangers


def split(conditions: str = "lfw", seed: int = 0) -> tuple[
        dict[str, list[Path]], dict[str, list[Path]], list[Path]]:
    """`devtest_split`, on the photos themselves or (album) on their album-like twins (drawn
    with `seed`)."""
    found = devtest_split()
    if conditions == "album":
        from bench.album_conditions import album_split

        return album_split(found, seed)
    return found


def rates(mated_best: np.ndarray, mated_right: np.ndarray, stranger_best: np.ndarray,
          threshold: float, higher_is_closer: bool = True) -> dict:
    """FPIR/FNIR at a threshold on best-person scores (NaN = no face found)."""
    def named(scores: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(scores)
        out = np.zeros(len(scores), dtype=bool)
        out[ok] = scores[ok] >= threshold if higher_is_closer else scores[ok] <= threshold
        return out

    return {"threshold": round(float(threshold), 4),
            "fpir": round(float(named(stranger_best).mean()), 4),
            "fnir": round(float(1 - (named(mated_best) & mated_right).mean()), 4)}


def summarise(mated_best, mated_right, stranger_best, default, higher_is_closer,
              extra: dict[str, float] | None = None) -> dict:
    scores = Scores(mated_best, mated_right, stranger_best, higher_is_closer)
    found = stranger_best[~np.isnan(stranger_best)]
    ordered = np.sort(found)[::-1] if higher_is_closer else np.sort(found)
    k = int(0.01 * len(stranger_best))  # 1 % of all non-mated probes may be named
    at_1pct = float(np.nextafter(ordered[k], np.inf if higher_is_closer else -np.inf))
    return {
        "rank1": round(float(mated_right.mean()), 4),
        "at_fpir_1pct": rates(mated_best, mated_right, stranger_best, at_1pct, higher_is_closer),
        "at_default": rates(mated_best, mated_right, stranger_best, default, higher_is_closer),
        **{k: rates(mated_best, mated_right, stranger_best, t, higher_is_closer)
           for k, t in (extra or {}).items()},
        "mated_no_face": int(np.isnan(mated_best).sum()),
        "non_mated_no_face": int(np.isnan(stranger_best).sum()),
        "fnir_at_fpir": fnir_at_fpir(scores),
    }


def facepair(enroll, mated, strangers, threads: int, model: str | None = None) -> dict:
    import torch

    from faces.decode import decode
    from faces.detect import pick_face
    from faces.errors import FacepairError
    from index.gallery import Gallery
    from index.results import ThresholdOut

    torch.set_num_threads(threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        g = Gallery(home=Path(home), model=model)
        refused = 0
        for name, photos in enroll.items():
            for p in photos:
                try:
                    g.enroll(name, p, face="center")
                except FacepairError:
                    refused += 1

        def best(paths: list[Path]) -> tuple[np.ndarray, list[str | None]]:
            scores, names = np.full(len(paths), np.nan), []
            for i, p in enumerate(paths):
                photo = decode(p)
                face = pick_face(g.detector.detect(photo), photo.shape, "center")
                if face is None:
                    names.append(None)
                    continue
                (cands,) = g.person_scores(g.embedder.embed_faces(photo, [face]), 1)
                scores[i], top = (cands[0].score, cands[0].person.name) if cands else (-1, None)
                names.append(top)
            return scores, names

        probes = [(n, p) for n, ps in mated.items() for p in ps]
        mated_best, top = best([p for _, p in probes])
        mated_right = np.array([t == n for (n, _), t in zip(probes, top, strict=True)])
        stranger_best, _ = best(strangers)
        in_force = g.estimate()
        pair = g.threshold(far=1e-3)
        enrolled = g.store.meta.counts()["faces"]
        g.close()
    extra = {"at_card_far_1e-3": pair, "at_card": in_force.card_threshold}
    if in_force.gallery_threshold is not None:
        extra["at_gallery"] = in_force.gallery_threshold
    result = summarise(mated_best, mated_right, stranger_best, in_force.threshold, True, extra)
    return {**result, "in_force": ThresholdOut.of(in_force).model_dump(),
            "enrolled_faces": enrolled, "enroll_refused": refused,
            "seconds": round(time.perf_counter() - start, 1),
            "_scores": Scores(mated_best, mated_right, stranger_best)}  # for paired figures


def face_recognition(enroll, mated, strangers, threads: int) -> dict:
    probes = [(n, p) for n, ps in mated.items() for p in ps]
    gallery = [(n, p) for n, ps in enroll.items() for p in ps]
    paths = [p for _, p in gallery] + [p for _, p in probes] + strangers
    listing_text = "\n".join(map(str, paths))
    key = hashlib.sha256(listing_text.encode()).hexdigest()[:16]
    cached, cached_meta = CACHE / f"open_set_fr_{key}.npy", CACHE / f"open_set_fr_{key}.json"
    if cached.exists() and cached_meta.exists():
        enc, meta = np.load(cached), json.loads(cached_meta.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            listing, out = Path(tmp) / "paths.txt", Path(tmp) / "enc.npy"
            listing.write_text(listing_text)
            meta = anchor.run("encode_center.py", [str(listing), str(out)], threads)
            enc = np.load(out)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(cached, enc)
        cached_meta.write_text(json.dumps(meta))
    g_enc, rest = enc[: len(gallery)], enc[len(gallery) :]
    p_enc, s_enc = rest[: len(probes)], rest[len(probes) :]
    keep = ~np.isnan(g_enc[:, 0])
    g_enc, g_names = g_enc[keep], np.array([n for n, _ in gallery])[keep]
    people = sorted(set(g_names))

    def best(encs: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        scores, names = np.full(len(encs), np.nan), []
        for i, e in enumerate(encs):
            if np.isnan(e[0]):
                names.append(None)
                continue
            d = np.linalg.norm(g_enc - e, axis=1)  # face_recognition.face_distance
            per_person = {n: d[g_names == n].min() for n in people}
            top = min(per_person, key=per_person.get)
            scores[i] = per_person[top]
            names.append(top)
        return scores, names

    mated_best, top = best(p_enc)
    mated_right = np.array([t == n for (n, _), t in zip(probes, top, strict=True)])
    stranger_best, _ = best(s_enc)
    result = summarise(mated_best, mated_right, stranger_best, 0.6, False)
    return {**result, "enrolled_faces": int(keep.sum()), "enroll_refused": int((~keep).sum()),
            "seconds": round(meta["seconds"], 1),
            "_scores": Scores(mated_best, mated_right, stranger_best, False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--no-anchor", action="store_true", help="skip face_recognition (its "
                        "figures do not depend on facepair's model; it takes about 11 minutes)")
    parser.add_argument("--conditions", choices=("lfw", "album"), default="lfw",
                        help="album: album-like twins of every photo (bench.album_conditions)")
    parser.add_argument("--seed", type=int, default=0, help="album: the degradations' seed")
    args = parser.parse_args()
    os.environ.update(anchor.thread_env(args.threads))
    enroll, mated, strangers = split(args.conditions, args.seed)
    figures = {
        "conditions": args.conditions,
        "people_enrolled": len(enroll),
        "mated_probes": sum(map(len, mated.values())),
        "non_mated_probes": len(strangers),
        "facepair": facepair(enroll, mated, strangers, args.threads),
    }
    if not args.no_anchor:
        figures["face_recognition"] = face_recognition(enroll, mated, strangers, args.threads)
        figures["paired"] = paired(figures["facepair"]["_scores"],
                                   figures["face_recognition"]["_scores"])
    for system in ("facepair", "face_recognition"):
        figures.get(system, {}).pop("_scores", None)
    print(f"open-set identification, LFW DevTest ({args.conditions} conditions): "
          f"{figures['people_enrolled']} people enrolled "
          f"(3 photos each), {figures['mated_probes']} mated and {figures['non_mated_probes']} "
          "non-mated probes")
    for system in ("facepair", "face_recognition"):
        if system not in figures:
            continue
        f = figures[system]
        print(f"{system:17s} rank-1 {f['rank1']:.4f}  FNIR@FPIR1% {f['at_fpir_1pct']['fnir']:.4f} "
              f"(threshold {f['at_fpir_1pct']['threshold']})  default threshold "
              f"{f['at_default']['threshold']}: FPIR {f['at_default']['fpir']:.4f} "
              f"FNIR {f['at_default']['fnir']:.4f}")
        for key, label in (("at_card", "the card's threshold"),
                           ("at_gallery", "the gallery's threshold"),
                           ("at_card_far_1e-3", "the card's pair-FAR 1e-3 threshold")):
            if key in f:
                g = f[key]
                print(f"{'':17s} at {label} {g['threshold']}: FPIR {g['fpir']:.4f} "
                      f"FNIR {g['fnir']:.4f}")
        print(f"{'':17s} FNIR at FPIR (90 % bootstrap interval, probes resampled): " + ", ".join(
            f"{k}: {v['fnir']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"
            for k, v in f["fnir_at_fpir"].items()))
        if "in_force" in f:
            e = f["in_force"]
            print(f"{'':17s} in force: {e['source']}'s {e['threshold']}, estimated FPIR "
                  f"{e['fpir']['estimate']:.4f} [{e['fpir']['low']:.4f}, {e['fpir']['high']:.4f}]"
                  f" FNIR {e['fnir']['estimate']:.4f} "
                  f"[{e['fnir']['low']:.4f}, {e['fnir']['high']:.4f}]")
    if "paired" in figures:
        print("facepair less face_recognition, FNIR at FPIR (paired, 90 % interval): " + ", ".join(
            f"{k}: {v['difference']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]"
            for k, v in figures["paired"].items()))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
