"""What reduced decoding costs in accuracy: open-set identification (bench/open_set.py's split of
LFW DevTest people) with every probe made a 12-megapixel phone photo, read two ways.

    .venv/bin/python -m bench.phone_open_set [--every N] [--json]

Each probe photo is enlarged so that its face is 60–600 px wide (drawn at random, fixed seed),
pasted at a random place on a 4032×3024 gray canvas and stored as a JPEG (quality 92, in
memory). The gallery is enrolled from the people's first 3 photos as they are. Then each probe
is read:

- **in full**: decoded in full, detected and embedded (`Gallery.enroll`'s and identify's path);
- **reduced**: as album workers read it (`index.album`): decoded at the DCT-reduced size that
  keeps `FACEPAIR_DETECT_MAX_SIDE` pixels, detected there, the face aligned from that reduced
  photo, or from the photo decoded in full where it is too small there to fill the model's
  input.

Both are scored as bench/open_set.py scores (rank-1, FNIR at FPIR 1 % and at the threshold in
force); the difference between them is the accuracy cost of reading photos reduced.
`--every N` keeps every N-th probe.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.open_set import devtest_split, summarise
from bench.phone_album import FACE_SHARE, SIZE, paste

WAYS = ("in_full", "reduced")  # how a probe is read (see above)


def phone_jpeg(path: Path, rng: np.random.Generator) -> bytes:
    """The photo enlarged (face 60–600 px) on a 12-megapixel gray canvas, as JPEG bytes."""
    face = int(rng.integers(60, 601))
    side = round(face / FACE_SHARE)
    canvas = Image.new("RGB", SIZE, (128, 128, 128))
    paste(canvas, path, face, (int(rng.integers(0, SIZE[0] - side)),
                               int(rng.integers(0, SIZE[1] - side))))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=92)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=3, help="keep every N-th probe")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    enroll, mated, strangers = devtest_split()
    probes = [(n, p) for n, ps in mated.items() for p in ps][:: args.every]
    strangers = strangers[:: args.every]
    start = time.perf_counter()
    scores, names, threshold = read_probes(enroll, [p for _, p in probes] + strangers)
    figures: dict = {"mated_probes": len(probes), "non_mated_probes": len(strangers)}
    right = {way: np.array([t == n for (n, _), t in zip(probes, names[way][: len(probes)],
                                                        strict=True)]) for way in WAYS}
    for way in WAYS:
        figures[way] = summarise(scores[way][: len(probes)], right[way],
                                 scores[way][len(probes) :], threshold, True)
    figures["discordant"] = discordant(scores, right, len(probes), threshold)
    figures["seconds"] = round(time.perf_counter() - start, 1)
    print(f"{len(probes)} mated and {len(strangers)} non-mated probes as 12-MP phone photos")
    for way in WAYS:
        f = figures[way]
        print(f"{way:8s} rank-1 {f['rank1']:.4f}  FNIR at FPIR 1 % "
              f"{f['at_fpir_1pct']['fnir']:.4f}  at the threshold in force: FPIR "
              f"{f['at_default']['fpir']:.4f} FNIR {f['at_default']['fnir']:.4f}  no face: "
              f"{f['mated_no_face']} + {f['non_mated_no_face']}")
    d = figures["discordant"]
    print(f"disagreeing at the threshold in force: mated probes named right only in full "
          f"{d['mated_right_in_full_only']}, only reduced {d['mated_right_reduced_only']}; "
          f"strangers named only in full {d['strangers_named_in_full_only']}, only reduced "
          f"{d['strangers_named_reduced_only']}")
    if args.json:
        print(json.dumps(figures))


def read_probes(enroll: dict[str, list[Path]], paths: list[Path]
                ) -> tuple[dict[str, np.ndarray], dict[str, list[str | None]], float]:
    """A gallery enrolled from `enroll` (name: photos), and each of `paths` made a phone photo
    and read both ways: {way: each probe's best person score (NaN where no face was found)},
    {way: that person's name}, and the gallery's threshold in force. One thread."""
    import torch

    from faces.decode import decode, decode_reduced
    from faces.detect import pick_face
    from faces.errors import FacepairError
    from index.album.analyse import face_sources
    from index.gallery import Gallery
    from service.settings import get_settings

    torch.set_num_threads(1)
    settings = get_settings()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as home:
        g = Gallery(settings.model_copy(update={"home": Path(home)}))
        for name, photos in enroll.items():
            for p in photos:
                with contextlib.suppress(FacepairError):  # no face: left out, as in open_set
                    g.enroll(name, p, face="center")
        detector, embedder = g.detector, g.embedder

        def read_full(data: bytes) -> np.ndarray | None:
            photo = decode(data)
            face = pick_face(detector.detect(photo), photo.shape, "center")
            return None if face is None else embedder.embed_faces(photo, [face])

        def read_reduced(data: bytes) -> np.ndarray | None:
            reduced = decode_reduced(data, settings.detect_max_side)
            face = pick_face(detector.detect_reduced(reduced), reduced.image.shape, "center")
            if face is None:
                return None
            ((source, points),) = face_sources(data, reduced, [face], embedder.input_size,
                                               settings.max_pixels)
            return embedder.embed_crops(embedder.crops_at(source, [points]))

        ways = {"in_full": read_full, "reduced": read_reduced}
        scores = {w: np.full(len(paths), np.nan) for w in WAYS}
        names: dict[str, list[str | None]] = {w: [None] * len(paths) for w in WAYS}
        for i, path in enumerate(paths):
            data = phone_jpeg(path, rng)
            for way in WAYS:
                vector = ways[way](data)
                if vector is None:
                    continue
                (cands,) = g.person_scores(vector, 1)
                if cands:
                    scores[way][i], names[way][i] = cands[0].score, cands[0].person.name
        threshold = g.estimate().threshold
        g.close()
    return scores, names, threshold


def discordant(scores: dict[str, np.ndarray], right: dict[str, np.ndarray], mated: int,
               threshold: float) -> dict[str, int]:
    """The probes the two ways disagree on at the threshold in force (McNemar's discordant
    pairs): mated probes (the first `mated` scores) named right one way only, strangers named
    one way only."""
    def named_right(way: str) -> np.ndarray:
        return (scores[way][:mated] >= threshold) & right[way]

    def stranger_named(way: str) -> np.ndarray:
        return scores[way][mated:] >= threshold

    return {
        "mated_right_in_full_only": int((named_right("in_full") & ~named_right("reduced")).sum()),
        "mated_right_reduced_only": int((named_right("reduced") & ~named_right("in_full")).sum()),
        "strangers_named_in_full_only": int(
            (stranger_named("in_full") & ~stranger_named("reduced")).sum()),
        "strangers_named_reduced_only": int(
            (stranger_named("reduced") & ~stranger_named("in_full")).sum()),
    }


if __name__ == "__main__":
    main()
