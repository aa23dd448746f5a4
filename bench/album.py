"""A photo album made from LFW DevTest photos, with ground truth: for the album-tagging tests
and benchmark. Nothing here trains on these people; they are enrolled and looked for.

The album: for each known person, photos not used to enroll them (in year folders); group
photos of two or three people side by side; some 1024×768 photos with one person small in a
textured scene; strangers (never enrolled) photographed several times; optionally many photos
of other people (never enrolled); a text file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from bench.photos import lfw_dir

KNOWN = ["Alvaro_Uribe", "Jacques_Chirac", "Jennifer_Capriati", "Gerhard_Schroeder"]
STRANGERS = ["Celine_Dion", "Bill_Frist", "Ann_Veneman"]
ENROLL = (1, 2, 3)


def lfw(name: str, i: int) -> Path:
    return lfw_dir() / name / f"{name}_{i:04d}.jpg"


def enrollment() -> dict[str, list[Path]]:
    """The known people's enrollment photos (their photos 1–3), by name."""
    return {name: [lfw(name, i) for i in ENROLL] for name in KNOWN}


def count(name: str) -> int:
    return len(list((lfw_dir() / name).glob("*.jpg")))


def _side_by_side(paths: list[Path]) -> Image.Image:
    parts = [np.asarray(Image.open(p).convert("RGB"))[:, 40:210] for p in paths]
    return Image.fromarray(np.concatenate(parts, axis=1))


def _scene(path: Path, rng: np.random.Generator) -> Image.Image:
    noise = rng.normal(0, 1, (25, 33, 3))
    canvas = Image.fromarray(np.uint8(np.clip(120 + 40 * noise, 0, 255))).resize((1024, 768))
    side = int(rng.integers(280, 380))
    x, y = int(rng.integers(0, 1024 - side)), int(rng.integers(0, 768 - side))
    canvas.paste(Image.open(path).convert("RGB").resize((side, side)), (x, y))
    return canvas


def passers_by(n: int) -> list[Path]:
    """Photos of DevTest people with fewer than 4 photos (never enrolled): n of them."""
    root = lfw_dir()
    lines = (root.parent / "peopleDevTest.txt").read_text().splitlines()[1:]
    photos = [lfw(name, i) for name, c in (line.split("\t") for line in lines) if int(c) < 4
              for i in range(1, int(c) + 1) if name not in STRANGERS]
    return photos[:: max(1, len(photos) // max(1, n))][:n]


def build_album(dst: Path, per_person: int = 6, groups: int = 4, scenes: int = 4,
                per_stranger: int = 3, others: int = 0, seed: int = 0) -> dict[str, list[str]]:
    """Write the album under `dst`; return {relative path: known people in it} (also saved as
    dst/../<name>-truth.json)."""
    rng = np.random.default_rng(seed)
    truth: dict[str, list[str]] = {}
    used: dict[str, int] = {n: max(ENROLL) for n in KNOWN}

    def take(name: str) -> Path:
        used[name] += 1
        return lfw(name, used[name])

    def save(image: Image.Image, rel: str, names: list[str]) -> None:
        path = dst / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=92) if path.suffix == ".jpg" else image.save(path)
        truth[rel] = sorted(names)

    for k, name in enumerate(KNOWN):
        for j in range(per_person):
            source = take(name)
            save(Image.open(source), f"{2016 + (j + k) % 4}/{source.name}", [name])
    for g in range(groups):
        names = list(rng.choice(KNOWN, size=2 + g % 2, replace=False))
        save(_side_by_side([take(n) for n in names]), f"parties/group_{g:02d}.png", names)
    for s in range(scenes):
        name = KNOWN[s % len(KNOWN)]
        save(_scene(take(name), rng), f"trips/scene_{s:02d}.jpg", [name])
    for name in STRANGERS:
        for i in range(1, min(per_stranger, count(name)) + 1):
            save(Image.open(lfw(name, i)), f"others/{name}_{i}.jpg", [])
    for source in passers_by(others):
        save(Image.open(source), f"misc/{source.name}", [])
    (dst / "notes.txt").write_text("not a photo\n")
    (dst.parent / f"{dst.name}-truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def precision_recall(truth: dict[str, list[str]], tags: dict[str, list[str]]) -> dict:
    """Tags (known names per photo) against the truth: precision and recall over name tags."""
    right = wrong = missed = 0
    for rel, names in truth.items():
        got = set(tags.get(rel, []))
        right += len(got & set(names))
        wrong += len(got - set(names))
        missed += len(set(names) - got)
    return {"precision": round(right / max(1, right + wrong), 4),
            "recall": round(right / max(1, right + missed), 4),
            "right": right, "wrong": wrong, "missed": missed}
