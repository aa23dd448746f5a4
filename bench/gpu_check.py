"""The CUDA paths on a GPU machine, in one short run: embedding on the GPU against the CPU (same
crops), batched detection, a few training steps with autocast, and (`--ray`) an album tagged on
a one-node Ray cluster whose actor takes the GPU, against the local pool's names.

    FACEPAIR_DEVICE=cuda .venv/bin/python -m bench.gpu_check [--people 8] [--ray] [--json]

Needs LFW DevTrain photos under FACEPAIR_DATA_DIR (a few people are enough). Prints one JSON
object last: the device, the largest embedding difference GPU vs CPU, crops/second on each,
photos/second of batched detection, and the training loss at the first and last steps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from faces.decode import decode
from faces.detect import Detector, pick_face
from faces.embed import Embedder
from service.settings import get_settings


def devtrain_photos(people: int, per_person: int) -> list[Path]:
    root = get_settings().data_dir / "lfw"
    names = [line.split("\t")[0] for line in
             (root / "peopleDevTrain.txt").read_text().splitlines()[1:]]
    photos: list[Path] = []
    for name in names:
        found = sorted((root / "lfw-deepfunneled" / name).glob("*.jpg"))
        if len(found) >= per_person:
            photos += found[:per_person]
        if len(photos) >= people * per_person:
            break
    return photos


def rate(fn, n: int) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of this script")
    parser.add_argument("--ray", action="store_true", help="also tag an album on Ray (GPU actors)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here")
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu"
    figures: dict = {"device": name, "torch": torch.__version__}

    photos = devtrain_photos(args.people, 8)
    images = [decode(p) for p in photos]
    gpu_detector, cpu_detector = Detector(device=dev), Detector(device="cpu")
    gpu_detector.detect_batch(images[:4])  # warm-up
    faces = gpu_detector.detect_batch(images)
    figures["detect_photos_per_s"] = {
        dev: round(rate(lambda: gpu_detector.detect_batch(images), len(images)), 1),
        "cpu": round(rate(lambda: cpu_detector.detect_batch(images[:16]), 16), 1)}
    cpu_faces = cpu_detector.detect_batch(images)
    picked = [pick_face(f, im.shape) for f, im in zip(faces, images, strict=True)]
    picked_cpu = [pick_face(f, im.shape) for f, im in zip(cpu_faces, images, strict=True)]
    figures["detect_max_box_difference_px"] = round(max(
        float(np.abs(np.subtract(a.box, b.box)).max())
        for a, b in zip(picked, picked_cpu, strict=True) if a and b), 3)

    gpu, cpu = Embedder(device=dev), Embedder(device="cpu")
    crops = np.concatenate([gpu.crops(im, [f]) for im, f in zip(images, picked, strict=True)
                            if f is not None])
    many = np.concatenate([crops] * max(1, 1024 // len(crops)))
    gpu.embed_crops(many[:64])
    figures["embed_max_abs_difference"] = float(np.abs(
        gpu.embed_crops(crops) - cpu.embed_crops(crops)).max())
    figures["embed_crops_per_s"] = {
        dev: round(rate(lambda: gpu.embed_crops(many, batch_size=256), len(many)), 1),
        "cpu": round(rate(lambda: cpu.embed_crops(crops), len(crops)), 1)}

    from training.prepare import prepare
    from training.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for p in photos:
            (src / p.parent.name).mkdir(parents=True, exist_ok=True)
            (src / p.parent.name / p.name).symlink_to(p.resolve())
        prepare(src, Path(tmp) / "prepared", workers=2)
        cfg = TrainConfig(data=[Path(tmp) / "prepared"], out=Path(tmp) / "run",
                          architecture={"name": "resnet_face", "embedding_size": 128},
                          epochs=1000, batch_size=32, m_per_class=4, lr=1e-3,
                          max_steps=args.steps, checkpoint_minutes=100)
        start = time.perf_counter()
        result = train(cfg)
        seconds = time.perf_counter() - start
    losses = result["losses"]
    figures["train"] = {"steps": result["steps"], "loss_first5": round(float(np.mean(
        losses[:5])), 4), "loss_last5": round(float(np.mean(losses[-5:])), 4),
        "seconds": round(seconds, 1)}
    if args.ray:
        figures["ray"] = ray_on_gpu()
    print(json.dumps(figures))


def ray_on_gpu() -> dict:
    """The album of `bench.album` tagged by the local pool and on a Ray cluster of this
    machine alone (its GPU in the pool: one actor, on CUDA): the same names, and the time."""
    from bench.album import build_album, enrollment
    from bench.harness import Contest, facepair_env, named_faces
    from bench.ray_nodes import local_cluster
    from faces.cluster import connect, disconnect, pool

    with tempfile.TemporaryDirectory() as tmp:
        album = Path(tmp) / "album"
        build_album(album)
        contest = Contest.prepare(Path(tmp), enrollment(), album, [])
        found: dict = {}
        with local_cluster(workers=0, cpus=4) as cluster:
            actors = pool(connect(cluster.address), 1)
            disconnect()
            for label, options in (("local", ["--workers", "2"]),
                                   ("ray", ["--ray", cluster.address])):
                home = contest.fresh_home(label)
                start = time.perf_counter()
                subprocess.run([*Contest.facepair(album, 2)[:3], *options, "--json"],
                               env=facepair_env(home), check=True, capture_output=True)
                found[label] = (time.perf_counter() - start, named_faces(home, album))
    return {"actor_device": actors.device, "actors": actors.actors,
            "local_s": round(found["local"][0], 1), "ray_s": round(found["ray"][0], 1),
            "same_names": found["local"][1] == found["ray"][1]}


if __name__ == "__main__":
    main()
