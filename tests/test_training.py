"""Training end to end on a handful of real LFW DevTrain people: prepare, train, resume,
export/load, 2-process DDP, and the evaluation maths on cases with known answers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.evaluate import (
    Pair,
    accuracy,
    best_threshold,
    read_pairs,
    tar_at_far,
    threshold_at_far,
    view1,
    view2,
)

BIN = Path(sys.executable).parent
PEOPLE = ["Al_Gore", "Al_Sharpton", "Amelia_Vega", "Ana_Guevara", "Bill_Graham", "Bob_Hope",
          "Bob_Stoops", "Binyamin_Ben-Eliezer"]


def facepair(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "facepair"), *args], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def prepared(lfw_dir: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prep")
    people = root / "people.txt"
    people.write_text("\n".join(PEOPLE) + "\n")
    dst = root / "lfw-few"
    result = facepair("prepare", str(lfw_dir), str(dst), "--people", str(people), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["people"] == len(PEOPLE) and report["ok"] >= report["photos"] - 2
    # A second run resumes: nothing left to do, same answer.
    again = facepair("prepare", str(lfw_dir), str(dst), "--people", str(people), "--json")
    assert json.loads(again.stdout.strip().splitlines()[-1]) == report
    return dst


def test_prepare_writes_crops_and_manifest(prepared: Path):
    crops = np.load(prepared / "crops.npy", mmap_mode="r")
    rows = list(csv.DictReader((prepared / "manifest.csv").open()))
    assert crops.shape == (len(rows), 112, 112, 3)
    assert {r["person"] for r in rows} == set(PEOPLE)
    ok = [int(r["index"]) for r in rows if r["status"] == "ok"]
    assert all(crops[i].std() > 10 for i in ok)  # real faces, not blank rows
    assert all(float(r["score"]) > 0.9 for r in rows if r["status"] == "ok")
    # the faces in the background are kept apart: never trained on, used to check thresholds
    others = np.load(prepared / "others.npy")
    other_rows = list(csv.DictReader((prepared / "others.csv").open()))
    assert len(other_rows) == len(others) >= 3  # five, with facepair-cascade-1 and later
    for r, crop in zip(other_rows, others, strict=True):
        source = rows[int(r["row"])]
        assert (r["path"], r["person"]) == (source["path"], source["person"])
        assert float(r["size"]) >= 40 and crop.std() > 10
        assert np.abs(crop.astype(int) - crops[int(r["row"])]).mean() > 10  # not the labelled face


def test_exclude_list_keeps_people_out(lfw_dir: Path, tmp_path: Path):
    from training.people import read_people, scan

    listing = tmp_path / "devtest.txt"
    listing.write_text("2\nAl_Gore\t8\nBob_Hope\t8\n")  # LFW's own list format
    assert read_people(listing) == {"Al_Gore", "Bob_Hope"}
    items = scan(lfw_dir, include=set(PEOPLE), exclude=read_people(listing))
    assert {p for _, p in items} == set(PEOPLE) - {"Al_Gore", "Bob_Hope"}


def _config(prepared: Path, out: Path, **kw):
    from training.train import TrainConfig

    base = dict(data=[prepared], out=out, batch_size=32, m_per_class=4, epochs=50,
                warmup_epochs=0.2, lr=3e-3, checkpoint_minutes=60, threads=2,
                architecture={"name": "resnet_face", "embedding_size": 64,
                              "widths": [16, 32, 64, 128]})
    base.update(kw)
    return TrainConfig(**base)


def _separation(run: Path, prepared: Path) -> float:
    """Mean same-person cosine minus mean different-person cosine over the prepared crops."""
    from faces.backbones import build
    from training.data import CropSet
    from training.train import embed_fn

    ckpt = torch.load(run / "last.pt", weights_only=True)
    net = build(ckpt["architecture"])
    net.load_state_dict(ckpt["model"])
    data = CropSet([prepared])
    e = embed_fn(net, torch.device("cpu"), amp=False)(data.crops)
    sims, same = e @ e.T, data.labels[:, None] == data.labels[None, :]
    off_diagonal = ~np.eye(len(e), dtype=bool)
    return float(sims[same & off_diagonal].mean() - sims[~same].mean())


def test_the_loss_falls_and_training_resumes(prepared: Path, tmp_path: Path):
    from training.train import train

    torch.manual_seed(0)
    train(_config(prepared, tmp_path / "run", max_steps=1))
    before = _separation(tmp_path / "run", prepared)
    first = train(_config(prepared, tmp_path / "run", max_steps=40))
    losses = first["losses"]
    assert len(losses) == 39
    assert np.mean(losses[-8:]) < 0.92 * np.mean(losses[:8]), losses
    after = _separation(tmp_path / "run", prepared)
    assert after > before + 0.1, (before, after)  # same-person pairs pulled together
    resumed = train(_config(prepared, tmp_path / "run", max_steps=45))
    assert len(resumed["losses"]) == 5 and resumed["steps"] == 45
    log = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert int(log[-1]["step"]) == 45


def test_export_then_load_gives_the_same_embeddings(prepared: Path, tmp_path: Path):
    from faces.backbones import build
    from faces.embed import Embedder, load_card
    from training.train import embed_fn, train

    train(_config(prepared, tmp_path / "run", max_steps=5))
    models = tmp_path / "models"
    done = facepair("export", str(tmp_path / "run"), "--name", "tiny", "--models-dir",
                    str(models), "--view", "none", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["model"] == "tiny"
    assert (models / "tiny.safetensors").stat().st_size < 30 * 2**20
    card = load_card(models / "tiny")
    assert card.as_dict()["init"] is None and card.embedding_size == 64
    missing = facepair("export", str(tmp_path / "nowhere"), "--name", "x", "--json")
    assert missing.returncode == 2 and "no last.pt" in missing.stderr
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    net = build(ckpt["architecture"])
    net.load_state_dict(ckpt["model"])
    crops = np.load(prepared / "crops.npy")[:16]
    before = embed_fn(net, torch.device("cpu"), amp=False)(crops)
    after = Embedder(tmp_path / "models" / "tiny").embed_crops(crops)
    cosines = (before * after).sum(1)
    assert cosines.min() > 0.999, cosines  # float16 storage, float32 compute
    assert np.allclose(np.linalg.norm(after, axis=1), 1, atol=1e-5)


def test_held_out_people_judge_the_run_and_pick_the_exported_step(prepared: Path, tmp_path: Path):
    from faces.embed import Embedder
    from training.data import CropSet
    from training.export import export
    from training.train import train

    data = CropSet([prepared], holdout=0.25, seed=0)
    assert data.holdout is not None and len(data.holdout.names) == 2
    # the background faces of held-out people's photos judge with them, the rest may train
    assert data.holdout.others is not None
    assert len(data.holdout.others) + len(data.background) == len(np.load(prepared / "others.npy"))
    assert not set(data.holdout.names) & set(data.people)  # nobody held out is trained on
    assert len(np.unique(data.holdout.labels)) == 2
    assert len(data) + len(data.holdout.labels) == len(CropSet([prepared]))

    result = train(_config(prepared, tmp_path / "run", holdout=0.25, holdout_every=4, batch_size=16,
                           max_steps=8))
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    judged = ckpt["state"]["holdout"]
    assert [row["step"] for row in judged] == [0, 4, 8]
    assert all(0.0 <= row["auc"] <= 1.0 and row["genuine_pairs"] > 0 for row in judged)
    best = max(judged, key=lambda row: row["tar_at_far_1e-4"])  # the first of equals wins
    assert result["best"]["step"] == best["step"]
    card = export(tmp_path / "run", "picked", tmp_path / "models", views=())
    assert card["training"]["holdout"]["selected_step"] == best["step"]
    kept = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["model"]
    exported = Embedder(tmp_path / "models" / "picked").net.state_dict()
    assert all(torch.allclose(exported[k].float(), v.float(), atol=1e-3) for k, v in kept.items())


def test_two_process_ddp_with_gloo(prepared: Path, tmp_path: Path):
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    cfg = _config(prepared, tmp_path / "ddp", max_steps=3, threads=1, batch_size=16)
    config = tmp_path / "cfg.json"
    config.write_text(cfg.model_dump_json())
    result = subprocess.run(
        [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", "29581",
         str(BIN / "facepair"), "train", "--data", str(prepared), "--out",
         str(tmp_path / "ddp"), "--config", str(config), "--json"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 3
    ckpt = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert "2 process(es)" in ckpt["hardware"]


# --- evaluation maths on constructed cases ------------------------------------------------


def test_threshold_accuracy_and_tar_on_a_known_case():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.35, 0.3, 0.1])
    same = np.array([True, True, True, False, True, False, False, False])
    t = best_threshold(scores, same)
    assert accuracy(scores, same, t) == pytest.approx(7 / 8)
    assert 0.6 < t <= 0.7 or 0.35 < t <= 0.4
    assert tar_at_far(scores, same, 0.0) == pytest.approx(3 / 4)  # no false accepts allowed
    assert tar_at_far(scores, same, 0.25) == pytest.approx(4 / 4)
    impostors = np.linspace(0, 1, 10001)
    assert threshold_at_far(impostors, 1e-2) == pytest.approx(0.99, abs=1e-3)


def _emb(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle)])


def test_thresholds_hold_for_background_faces_too():
    from training.evaluate import (
        FARS,
        background_factor,
        held_out_thresholds,
        impostor_scores,
        threshold_at_far,
    )

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 32))
    labels = np.repeat(np.arange(50), 4)
    held = centres[labels] + rng.normal(scale=0.5, size=(200, 32))
    held /= np.linalg.norm(held, axis=1, keepdims=True)
    alone = held_out_thresholds(held, labels)
    assert alone["background_factor"] == 1.0
    assert alone["thresholds"] == alone["thresholds_held_out_people"]
    assert list(alone["thresholds"]) == ["1e-2", "1e-3", "1e-4", "1e-5", "1e-6"]
    impostor = impostor_scores(held, labels, limit=200)
    # strangers drawn like the held-out people cross their thresholds about as often
    like = rng.normal(size=(400, 32))
    like /= np.linalg.norm(like, axis=1, keepdims=True)
    assert background_factor(held, like, impostor) < 1.3
    # strangers who look a little like someone held out cross them more often: every rate is
    # divided by a bound on how much more often, and the thresholds rise
    others = centres[rng.integers(0, 50, 200)] + rng.normal(scale=0.9, size=(200, 32))
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    both = held_out_thresholds(held, labels, others)
    factor = both["background_factor"]
    t = threshold_at_far(impostor, 1e-2)  # the only rate 19,900 stranger pairs support
    scores = others @ held.T
    one_person = scores >= threshold_at_far(impostor, 1e-6)  # left out: no strangers
    point = (scores[~one_person] >= t).sum() / scores.size / 1e-2
    assert 1.5 < point < factor < 1.5 * point  # the bound lies above the estimate, not far
    for k, far in zip(alone["thresholds"], FARS, strict=True):  # (the factor is rounded)
        assert abs(both["thresholds"][k] - threshold_at_far(impostor, far / factor)) < 5e-4
    assert all(both["thresholds"][k] > v for k, v in alone["thresholds"].items())
    # a held-out person in someone's background (the same news photo) is no stranger
    twice = held_out_thresholds(held, labels, np.concatenate([others, held[:3]]))
    assert abs(twice["background_factor"] - factor) < 0.25 * factor


def test_view1_on_constructed_embeddings(tmp_path: Path):
    # Same pairs 0.1 rad apart (cosine 0.995), different pairs 1.5 rad apart (cosine 0.07),
    # except one different pair made identical: accuracy is exactly 1 - 1/total.
    root = tmp_path
    emb: dict[str, np.ndarray] = {}
    lines_train, lines_test = ["2"], ["2"]
    for k, lines in ((0, lines_train), (1, lines_test)):
        for i in range(2):
            a, b = f"S{k}{i}", f"S{k}{i}"
            emb[f"{a}/{a}_0001.jpg"], emb[f"{b}/{b}_0002.jpg"] = _emb(i), _emb(i + 0.1)
            lines.append(f"{a}\t1\t2")
        for i in range(2):
            a, b = f"D{k}{i}", f"E{k}{i}"
            emb[f"{a}/{a}_0001.jpg"] = _emb(3 * i)
            emb[f"{b}/{b}_0001.jpg"] = _emb(3 * i + (0 if (k, i) == (1, 0) else 1.5))
            lines.append(f"{a}\t1\t{b}\t1")
    (root / "pairsDevTrain.txt").write_text("\n".join(lines_train) + "\n")
    (root / "pairsDevTest.txt").write_text("\n".join(lines_test) + "\n")
    result = view1(emb, root)
    assert result["devtrain_accuracy"] == 1.0
    assert result["accuracy"] == pytest.approx(0.75)


def test_view2_folds(tmp_path: Path):
    emb = {}
    lines = ["10\t1"]
    for f in range(10):
        a = f"P{f}"
        emb[f"{a}/{a}_0001.jpg"], emb[f"{a}/{a}_0002.jpg"] = _emb(f), _emb(f + 0.2)
        b, c = f"Q{f}", f"R{f}"
        emb[f"{b}/{b}_0001.jpg"], emb[f"{c}/{c}_0001.jpg"] = _emb(f), _emb(f + 1.4)
        lines += [f"{a}\t1\t2", f"{b}\t1\t{c}\t1"]
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    folds = read_pairs(tmp_path / "pairs.txt")
    assert len(folds) == 10 and all(len(f) == 2 for f in folds)
    assert folds[0][1] == Pair("Q0/Q0_0001.jpg", "R0/R0_0001.jpg", False)
    result = view2(emb, tmp_path)
    assert result["accuracy_mean"] == 1.0 and result["accuracy_std"] == 0.0


def test_lfw_protocol_files_parse(lfw_dir: Path):
    root = lfw_dir.parent
    assert len(read_pairs(root / "pairsDevTrain.txt")[0]) == 2200
    assert len(read_pairs(root / "pairsDevTest.txt")[0]) == 1000
    folds = read_pairs(root / "pairs.txt")
    assert len(folds) == 10 and all(len(f) == 600 for f in folds)


def test_shipped_model_reproduces_its_card(lfw_dir: Path):
    from faces.embed import load_card
    from faces.errors import ModelError

    try:
        card = load_card()
    except ModelError as exc:
        pytest.skip(f"no shipped default model yet: {exc}")
    result = facepair("eval", "lfw", "--view", "1", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert abs(figures["view1"]["accuracy"] - card.lfw["view1"]["accuracy"]) <= 0.005


def test_init_from_a_model_file_and_frozen_lower_layers(prepared: Path, tmp_path: Path):
    from faces.embed import load_network
    from training.export import export
    from training.train import train

    train(_config(prepared, tmp_path / "base", max_steps=3))
    export(tmp_path / "base", "base", tmp_path / "models", views=())
    start, _ = load_network(tmp_path / "models" / "base")
    train(_config(prepared, tmp_path / "tuned", max_steps=4, init=tmp_path / "models" / "base",
                  freeze_lower=2, freeze_epochs=100))
    ckpt = torch.load(tmp_path / "tuned" / "last.pt", weights_only=True)
    assert ckpt["init"]["matched"] == ckpt["init"]["total"]
    before, after = start.state_dict(), ckpt["model"]
    stem = "stem.0.weight"  # lowest group: frozen, so still the init's (float16-rounded) weights
    assert torch.equal(after[stem], before[stem])
    head = "head.5.weight"  # the embedding layer: trained
    assert not torch.allclose(after[head], before[head])


def test_background_faces_train_as_strangers(lfw_dir: Path, tmp_path: Path):
    """Prepared for the shipped model (150×150, its template), the background faces of the
    photos are kept; those the starting model finds to be someone of the data are dropped,
    the rest join every batch as strangers."""
    from faces.embed import load_network
    from training.data import CropSet
    from training.train import background_strangers, train

    people = tmp_path / "people.txt"
    people.write_text("\n".join(PEOPLE) + "\n")
    dst = tmp_path / "lfw-dlib"
    result = facepair("prepare", str(lfw_dir), str(dst), "--people", str(people),
                      "--model", "models/dlib-resnet-v1", "--json")
    assert result.returncode == 0, result.stderr
    data = CropSet([dst])
    assert data.holdout is None and len(data.background) >= 3
    net, card = load_network("models/dlib-resnet-v1")
    # one labelled face slipped in among the background faces: it is no stranger
    data.background = np.concatenate([data.background, data.crops[:1]])
    kept = np.asarray(background_strangers(net, data, card, torch.device("cpu")))
    assert len(kept) == len(data.background) - 1
    assert not any(np.array_equal(k, data.crops[0]) for k in kept)

    cfg = _config(dst, tmp_path / "run", max_steps=2, batch_size=16,
                  init=Path("models/dlib-resnet-v1"),
                  architecture={"name": "dlib_resnet", "embedding_size": 128}, freeze_lower=5,
                  freeze_epochs=100, background_negatives=2, lr=1e-5)
    out = train(cfg)
    assert out["steps"] == 2 and all(np.isfinite(out["losses"]))


def test_cfp_people_prepare_from_their_pose_folders_and_fill_a_share_of_each_batch(
        prepared: Path, tmp_path: Path):
    """CFP's `NNN/frontal/` and `NNN/profile/` photos are one person's; with `class_share`
    half the people of every batch come from the CFP folder, each with `m_per_class` photos."""
    from service.settings import get_settings
    from training.cfp import cfp_root
    from training.data import CropSet
    from training.train import shared_batches

    try:
        root = cfp_root(get_settings().data_dir)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    people = tmp_path / "cfp-people.txt"
    people.write_text("# CFP people (a first line of digits alone would read as a count)\n"
                      "002\n003\n004\n005\n")
    dst = tmp_path / "cfp-few"
    result = facepair("prepare", str(root / "Data" / "Images"), str(dst), "--people",
                      str(people), "--face", "largest", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["people"] == 4 and report["photos"] == 56  # 10 frontal + 4 profile each
    rows = list(csv.DictReader((dst / "manifest.csv").open()))
    profiles = [r for r in rows if "/profile/" in r["path"] and r["status"] == "ok"]
    assert len(profiles) >= 12
    data = CropSet([prepared, dst])
    cfg = _config(prepared, tmp_path / "run", class_share={"cfp": 0.5}, batch_size=32)
    batches = shared_batches(data, cfg, 20, np.random.default_rng(0))
    assert batches.shape == (20, 32)
    folders = np.array([str(p).split("/")[0] for p in data.people])
    for batch in batches:
        labels = data.labels[batch]
        people_in = np.unique(labels)
        assert len(people_in) == 8 and all((labels == p).sum() == 4 for p in people_in)
        assert (folders[people_in] == "cfp-few").sum() == 4
