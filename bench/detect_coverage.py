"""Detection coverage: tight headshots, ORL, and every face found on the whole of LFW.

    .venv/bin/python -m bench.detect_coverage [--skip-lfw] [--save F.json] [--compare F.json]

- **Tight headshots**: every LFW DevTest photo cropped to a square of 0.9× the side of the
  face detected nearest its centre (so forehead and chin are cut by the border, as in the
  tight crops people enroll with); the share of crops in which a face is found.
- **ORL**: the share of the 400 photos (92×112, the face fills the frame) with a face.
- **LFW**: the faces found in all 13,233 photos and the photos with none. `--save` writes every
  photo's boxes; `--compare` reads such a file from another detector version and lists the
  faces found only by one of them (the faces a detector change added or lost), and, with
  `--sheet F.png`, draws the added ones for a look.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.photos import lfw_dir


def devtest_photos() -> list[Path]:
    root = lfw_dir()
    paths = []
    for line in (root.parent / "peopleDevTest.txt").read_text().splitlines()[1:]:
        name, count = line.split("\t")
        paths += [root / name / f"{name}_{i:04d}.jpg" for i in range(1, int(count) + 1)]
    return paths


def tight_crop(photo: np.ndarray, box: tuple[float, float, float, float],
               factor: float = 0.9) -> tuple[np.ndarray, tuple[int, int]]:
    """A square of `factor` × the box's longer side around the box's centre, and where its
    top left corner lies in the photo."""
    x1, y1, x2, y2 = box
    side = round(factor * max(x2 - x1, y2 - y1))
    left = max(0, round((x1 + x2 - side) / 2))
    top = max(0, round((y1 + y2 - side) / 2))
    return np.ascontiguousarray(photo[top : top + side, left : left + side]), (left, top)


def coverage(detector, photos: list[np.ndarray]) -> tuple[int, list[int]]:
    """Photos with at least one face, and the indices of those without."""
    batch = detector.settings.detect_batch_size
    missed = []
    for start in range(0, len(photos), batch):
        found = detector.detect_batch(photos[start : start + batch])
        missed += [start + i for i, faces in enumerate(found) if not faces]
    return len(photos) - len(missed), missed


def tight_headshots(detector) -> dict:
    from faces.decode import decode
    from faces.detect import pick_face

    crops, names = [], []
    for path in devtest_photos():
        photo = decode(path)
        face = pick_face(detector.detect(photo), photo.shape, "center")
        if face is not None:
            crops.append(tight_crop(photo, face.box)[0])
            names.append(path.name)
    found, missed = coverage(detector, crops)
    return {"crops": len(crops), "found": found, "share": round(found / len(crops), 4),
            "missed": [names[i] for i in missed]}


def orl(detector, data_dir: Path) -> dict:
    from faces.decode import decode

    paths = sorted((data_dir / "orl").glob("s*/*.pgm"))
    if not paths:
        raise SystemExit(f"ORL not found under {data_dir / 'orl'}")
    found, missed = coverage(detector, [decode(p) for p in paths])
    return {"photos": len(paths), "found": found,
            "missed": [str(paths[i].relative_to(data_dir)) for i in missed]}


def lfw_faces(detector) -> dict:
    from faces.decode import decode

    root = lfw_dir()
    paths = sorted(root.glob("*/*.jpg"))
    boxes: dict[str, list[list[float]]] = {}
    batch = detector.settings.detect_batch_size
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        for path, faces in zip(chunk, detector.detect_batch([decode(p) for p in chunk]),
                               strict=True):
            boxes[str(path.relative_to(root))] = [[round(v, 1) for v in f.box] for f in faces]
    return {"photos": len(paths), "faces": sum(map(len, boxes.values())),
            "photos_without_face": sum(not b for b in boxes.values()), "boxes": boxes}


def differences(before: dict, after: dict) -> dict:
    """Faces found by one detector run and not the other (IoU < 0.5 with every face of the
    same photo in the other run)."""
    from faces.boxes import iou

    def only(a: dict, b: dict) -> list[tuple[str, list[float]]]:
        return [(photo, box) for photo, found in a.items() for box in found
                if all(iou(box, other) < 0.5 for other in b.get(photo, []))]

    return {"added": only(after, before), "lost": only(before, after)}


def contact_sheet(faces: list[tuple[str, list[float]]], out: Path) -> None:
    """The photos with an added face, the face outlined, side by side."""
    from PIL import Image, ImageDraw

    root, tiles = lfw_dir(), []
    for photo, box in faces[:60]:
        image = Image.open(root / photo).convert("RGB")
        ImageDraw.Draw(image).rectangle(box, outline=(255, 0, 0), width=3)
        tiles.append(image.resize((160, 160)))
    columns = 10
    sheet = Image.new("RGB", (160 * columns, 160 * max(1, -(-len(tiles) // columns))))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (160 * (i % columns), 160 * (i // columns)))
    sheet.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-lfw", action="store_true", help="tight crops and ORL only")
    parser.add_argument("--save", type=Path, help="write every LFW photo's boxes here")
    parser.add_argument("--compare", type=Path, help="boxes saved by another run")
    parser.add_argument("--sheet", type=Path, help="with --compare: draw the added faces")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    from faces.detect import Detector
    from faces.mtcnn import VERSION
    from service.settings import get_settings

    detector = Detector()
    start = time.perf_counter()
    figures: dict = {"detector": VERSION, "tight_headshots": tight_headshots(detector),
                     "orl": orl(detector, get_settings().data_dir)}
    t, o = figures["tight_headshots"], figures["orl"]
    print(f"{VERSION}: tight headshots {t['found']}/{t['crops']} ({t['share']:.2%}); "
          f"ORL {o['found']}/{o['photos']}")
    if not args.skip_lfw:
        lfw = lfw_faces(detector)
        boxes = lfw.pop("boxes")
        figures["lfw"] = lfw
        print(f"LFW: {lfw['faces']} faces in {lfw['photos']} photos, "
              f"{lfw['photos_without_face']} photos without a face")
        if args.save:
            args.save.write_text(json.dumps({"detector": VERSION, "boxes": boxes}))
        if args.compare:
            before = json.loads(args.compare.read_text())
            diff = differences(before["boxes"], boxes)
            figures["lfw"]["against"] = before["detector"]
            figures["lfw"]["added"] = diff["added"]
            figures["lfw"]["lost"] = diff["lost"]
            print(f"against {before['detector']}: {len(diff['added'])} faces added, "
                  f"{len(diff['lost'])} lost")
            if args.sheet:
                contact_sheet(diff["added"], args.sheet)
    figures["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
