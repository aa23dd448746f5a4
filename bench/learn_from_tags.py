"""Learning from a user's own tags, measured: `python -m bench.learn_from_tags`.

The user's people are CFP people whom the shipped model never trained on (cfp-dev splits 4 and
5, LFW DevTest people left out). Their photos make two libraries, tagged as digiKam tags them
(a `photo.jpg.xmp` sidecar per photo, each face's region drawn a quarter larger than the
detector's box):

- library A, "tagged so far": frontal photos 1–6 and profile photos 1–2 of each person;
- library B, "tagged later": frontal photos 7–10 and profile photos 3–4, never trained on.

For the shipped float model and for the same model after `facepair train` continued the
auxiliary task on library A (`prepare --from-tags`, then `train --init`, the config of
`training/configs/dlib_top_background.json`, with its held-out fifth of the people), a fresh
gallery imports A's tags (`import-tags`, 5 faces a person), tags B, and `agree` reports how
B's tagged faces are named: right, wrong, unknown, for the people trained on and for the
people held out of training apart.

Everything is built once under `learn-from-tags/` in the benchmarks' cache (`bench.CACHE`);
the figures print last, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path

from bench import CACHE, FACEPAIR, last_json
from bench.tagged_album import digikam_sidecar, region_of

WORK = CACHE / "learn-from-tags"
ROOT = Path(__file__).resolve().parent.parent
A_FRONTAL, A_PROFILE = range(1, 7), range(1, 3)
B_FRONTAL, B_PROFILE = range(7, 11), range(3, 5)


def run(*args: str, env: dict | None = None) -> dict:
    done = subprocess.run([FACEPAIR, *args, "--json"], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"facepair {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return last_json(done.stdout)


def build(work: Path, people: int) -> dict[str, str]:
    """Libraries A and B (once); returns {folder name: person's name}."""
    from faces.decode import decode
    from faces.detect import Detector
    from service.settings import get_settings
    from training.cfp import cfp_root, devtest_people, split_of

    done = work / "libraries.json"
    if done.exists():
        return json.loads(done.read_text())
    root = cfp_root(get_settings().data_dir)
    names = (root / "Data" / "list_name.txt").read_text().splitlines()
    excluded = devtest_people(root)
    chosen = [n for n in range(1, 251) if split_of(n) in (4, 5) and n not in excluded][:people]
    detector = Detector(get_settings())
    listing: dict[str, str] = {}
    for number in chosen:
        name = names[number - 1].strip()
        folder = f"{number:03d}"
        listing[folder] = name
        for library, frontal, profile in (("A", A_FRONTAL, A_PROFILE),
                                          ("B", B_FRONTAL, B_PROFILE)):
            sources = ([root / "Data" / "Images" / folder / "frontal" / f"{i:02d}.jpg"
                        for i in frontal]
                       + [root / "Data" / "Images" / folder / "profile" / f"{i:02d}.jpg"
                          for i in profile])
            for source in sources:
                photo = decode(source)
                faces = detector.detect(photo)
                if not faces:
                    continue  # a photo nobody could tag a face in
                face = max(faces, key=lambda f: f.size)
                height, width = photo.shape[:2]
                dst = work / library / folder / f"{source.parent.name}-{source.name}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dst)
                dst.with_name(dst.name + ".xmp").write_text(
                    digikam_sidecar(name, region_of(face.box, width, height), width, height))
    done.write_text(json.dumps(listing, indent=1))
    return listing


def fine_tune(work: Path, epochs: int) -> Path:
    """The shipped float model, trained further on library A's tagged faces (once)."""
    model = work / "models" / "facepair-v2-yours"
    if model.with_suffix(".json").exists():
        return model
    prepared = work / "prepared-A"
    if not (prepared / "manifest.csv").exists():
        run("prepare", str(work / "A"), str(prepared), "--from-tags", "--model", "facepair-v2")
    config = json.loads((ROOT / "training" / "configs" / "dlib_top_background.json").read_text())
    config["init"] = str(ROOT / "models" / "facepair-v2")
    (work / "train.json").write_text(json.dumps(config))
    run_dir = work / "run"
    run("train", "--data", str(prepared), "--config", str(work / "train.json"), "--out",
        str(run_dir), "--epochs", str(epochs), *(["--resume"] if (run_dir / "last.pt").exists()
                                                 else []))
    run("export", str(run_dir), "--name", model.name, "--models-dir", str(model.parent),
        "--view", "1")
    return model


def measure(work: Path, model: str, label: str) -> dict:
    """A fresh gallery with `model`: import A's tags, tag B, how B's tagged faces are named."""
    home = work / f"home-{label}"
    shutil.rmtree(home, ignore_errors=True)
    env = {"FACEPAIR_HOME": str(home), "FACEPAIR_MODEL": model}
    imported = run("import-tags", str(work / "A"), "--per-person", "5", env=env)
    run("tag", str(work / "B"), env=env)
    agreement = run("agree", str(work / "B"), env=env)
    return {"model": model, "enrolled": sum(v["enrolled"] for v in imported["names"].values()),
            "agreement": agreement}


def split(agreement: dict, trained: set[str]) -> dict:
    """Right, wrong, unknown for the people trained on and for the others."""
    out = {}
    for group, keep in (("trained_on", True), ("held_out", False)):
        rows = [p for name, p in agreement["people"].items() if (name in trained) == keep]
        tagged = sum(p["tagged"] for p in rows)
        out[group] = {"people": len(rows), "tagged": tagged,
                      **{k: round(sum(p[k] for p in rows) / max(1, tagged), 4)
                         for k in ("right", "wrong", "unknown")}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    build(work, args.people)
    tuned = fine_tune(work, args.epochs)
    from training.data import CropSet

    config = json.loads((work / "train.json").read_text())
    held_out = CropSet([work / "prepared-A"], holdout=config["holdout"], seed=0).holdout
    held = {n.split("/", 1)[1] for n in held_out.names} if held_out else set()
    figures = {}
    for label, model in (("shipped", "facepair-v2"), ("yours", str(tuned))):
        result = measure(work, model, label)
        names = set(result["agreement"]["people"])
        trained = names - held
        figures[label] = {**result, "by_group": split(result["agreement"], trained)}
        figures[label]["agreement"].pop("mistakes", None)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
