"""Training and embedding speed.

    .venv/bin/python -m bench.train_speed --data var/prepared/lfw-devtrain [--threads N]

1. Training images/second through the real data path (crops in memory, identity-balanced
   batches, batch augmentation, miner + multi-similarity loss, AdamW) against the network's raw
   forward+backward speed on random tensors, same model, batch and precision, in this run. The
   data path should cost little: the goal is ≥ 80 %.
2. Embedding throughput of aligned crops: facepair's embedder against face_recognition's
   encoder (dlib) on the same crops (resized to its 150×150 input), same thread count.
Figures print last.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import anchor


def training_rates(data: Path, steps: int, batch: int, threads: int, arch: dict) -> dict:
    import torch
    from pytorch_metric_learning import losses, miners, samplers

    from faces.backbones import build
    from training.data import CropSet, augment
    from training.train import amp_default, autocast_for

    torch.set_num_threads(threads)
    crops = CropSet([data])
    net = build({**arch, "input_size": crops.size})
    net = net.to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    loss_fn, miner = losses.MultiSimilarityLoss(), miners.MultiSimilarityMiner()
    device = torch.device("cpu")
    amp = amp_default(device)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with autocast_for(device, amp):
            e = net(x)
        e = e.float()
        loss = loss_fn(e, y, miner(e, y))
        opt.zero_grad()
        loss.backward()
        opt.step()

    raw_x = torch.randn(batch, 3, crops.size, crops.size).contiguous(
        memory_format=torch.channels_last)
    raw_y = torch.arange(batch) // 4
    for _ in range(2):
        step(raw_x, raw_y)
    t = time.perf_counter()
    for _ in range(steps):
        step(raw_x, raw_y)
    raw = steps * batch / (time.perf_counter() - t)

    sampler = samplers.MPerClassSampler(crops.labels, 4, batch_size=batch,
                                        length_before_new_iter=steps * batch)
    order = np.fromiter(iter(sampler), dtype=np.int64).reshape(steps, batch)
    t = time.perf_counter()
    for index in order:
        images, labels = crops.batch(index)
        x = augment(images.float())
        x = ((x - 127.5) / 128.0).contiguous(memory_format=torch.channels_last)
        step(x, labels)
    real = steps * batch / (time.perf_counter() - t)
    return {"amp": amp, "raw_img_per_s": round(raw, 1), "pipeline_img_per_s": round(real, 1),
            "share": round(real / raw, 3)}


def embedding_rates(data: Path, n: int, threads: int, model: str | None) -> dict:
    import cv2
    import torch

    from faces.embed import Embedder

    torch.set_num_threads(threads)
    crops = np.load(data / "crops.npy", mmap_mode="r")[:n].copy()
    embedder = Embedder(model)
    embedder.embed_crops(crops[:64])
    t = time.perf_counter()
    embedder.embed_crops(crops, flip=False)
    ours = n / (time.perf_counter() - t)
    singles = []
    for crop in crops[:64]:
        t = time.perf_counter()
        embedder.embed_crops(crop[None], flip=False)
        singles.append(time.perf_counter() - t)
    chips = np.stack([cv2.resize(c, (150, 150), interpolation=cv2.INTER_LINEAR) for c in crops])
    with tempfile.NamedTemporaryFile(suffix=".npy", delete=False) as f:
        np.save(f, chips)
    try:
        theirs = anchor.run("encode_chips.py", [f.name], threads)
    finally:
        os.unlink(f.name)
    dlib_rate = n / theirs["batched_seconds"]
    return {
        "model": embedder.name,
        "facepair_crops_per_s": round(ours, 1),
        "face_recognition_crops_per_s": round(dlib_rate, 1),
        "ratio": round(ours / dlib_rate, 2),
        "facepair_one_crop_ms": round(1000 * float(np.median(singles)), 2),
        "face_recognition_one_crop_ms": round(1000 * theirs["single_median_seconds"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a `facepair prepare` output")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--crops", type=int, default=512)
    parser.add_argument("--model", default=None)
    parser.add_argument("--skip-embedding", action="store_true")
    parser.add_argument("--architecture", type=json.loads,
                        default={"name": "resnet_face", "widths": [32, 64, 128, 256]},
                        help="the network to train, as JSON (faces.backbones.build)")
    args = parser.parse_args()
    os.environ.update(anchor.thread_env(args.threads))
    figures: dict = {"threads": args.threads,
                     "training": training_rates(args.data, args.steps, args.batch, args.threads,
                                                args.architecture)}
    tr = figures["training"]
    print(f"training {args.architecture['name']}, batch {args.batch}, autocast {tr['amp']}, "
          f"{args.threads} thread(s): "
          f"random tensors {tr['raw_img_per_s']} img/s, real data path "
          f"{tr['pipeline_img_per_s']} img/s = {100 * tr['share']:.0f} %")
    if not args.skip_embedding:
        figures["embedding"] = em = embedding_rates(args.data, args.crops, args.threads,
                                                    args.model)
        print(f"embedding {args.crops} crops: facepair {em['facepair_crops_per_s']}/s, "
              f"face_recognition {em['face_recognition_crops_per_s']}/s, ratio "
              f"{em['ratio']}×; one crop {em['facepair_one_crop_ms']} ms vs "
              f"{em['face_recognition_one_crop_ms']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
