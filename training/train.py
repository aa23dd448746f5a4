"""`facepair train`: the auxiliary task. A siamese/contrastive network learns whether two faces
show the same person: every pair inside an identity-balanced batch is a training pair, scored
by cosine; pytorch-metric-learning's multi-similarity miner picks the informative pairs and
its multi-similarity loss pulls same-person pairs together and pushes the others apart.

One script for one CPU, one GPU or many: run it plainly, or under
`torchrun --nproc_per_node N` (DDP; NCCL on GPUs, gloo on CPU; the loss gathers the
embeddings of all processes, so pairs cross process boundaries).
Checkpoints go to OUT/last.pt every few minutes and at the end; `--resume` continues from it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from pydantic import BaseModel, Field, field_validator
from pytorch_metric_learning import losses, miners, samplers
from pytorch_metric_learning.utils import common_functions as pml_common
from pytorch_metric_learning.utils import distributed as pml_dist
from torch import nn

from faces.backbones import build
from faces.card import ModelCard, Normalisation
from faces.embed import embed_with, load_card, load_network
from training.data import CropSet, ShardSet, augment, open_prepared

NORMALISATION = {"mean": [127.5, 127.5, 127.5], "std": [128.0, 128.0, 128.0]}


class TrainConfig(BaseModel):
    data: list[Path] = Field(description="`facepair prepare` outputs to train on")
    out: Path = Path("runs/facepair")
    architecture: dict[str, Any] = {"name": "resnet_face", "embedding_size": 128}
    epochs: int = 40
    batch_size: int = 128  # per process
    m_per_class: int = 4
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    ms_alpha: float = 2.0
    ms_beta: float = 50.0
    ms_base: float = 0.5
    miner_epsilon: float = 0.1
    amp: bool | None = None  # None: on CUDA, and on CPUs with native bf16 (else it is slower)
    seed: int = 0
    threads: int = 0
    checkpoint_minutes: float = 10.0
    eval_minutes: float = 0.0  # LFW View 1 every N minutes (0: only at the end)
    lfw_data: Path | None = None  # the folder holding lfw/ for View 1 (None: not measured)
    init: Path | None = None  # start from this model file's weights (where the names match)
    freeze_lower: int = 0  # layer groups (stem, stages…) frozen at the start
    freeze_epochs: float = 0.0
    lower_lr_scale: float = 1.0  # learning-rate factor of those groups once unfrozen
    max_steps: int = 0  # stop early (tests, smoke runs); 0 = the full schedule
    holdout: float = 0.0  # share of the people kept out of training to judge the run
    holdout_every: int = 0  # judge it every N steps (and before the first, and at the end)
    # the held-out figure that picks best.pt
    select_by: Literal["auc", "tar_at_far_1e-3", "tar_at_far_1e-4"] = "tar_at_far_1e-4"
    # faces from the background of the training people's photos added to every batch, each
    # its own label (a stranger to everyone), so the network learns not to match them; those
    # the starting model (`init`) finds to be someone of the data set are left out
    background_negatives: int = 0
    # the share of each batch's people drawn from data folders whose name starts with a key
    # (e.g. {"cfp": 0.5}: half the people of every batch are CFP people, whose frontal and
    # profile photos make the pairs a few thousand LFW people would otherwise drown out)
    class_share: dict[str, float] = {}
    # prepared sets in shards: batches are drawn from this many shards at a time
    shard_window: int = 4

    @field_validator("class_share")
    @classmethod
    def _shares(cls, shares: dict[str, float]) -> dict[str, float]:
        if any(not 0 < v < 1 for v in shares.values()) or sum(shares.values()) >= 1:
            raise ValueError("class_share: each share between 0 and 1, all together under 1")
        return shares
    command: str = ""


def _distributed() -> tuple[int, int, int]:
    if "RANK" not in os.environ:
        return 0, 1, 0
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))


def amp_default(device: torch.device) -> bool:
    """Autocast pays on CUDA and on CPUs with native bf16; on others (AVX2 only) bf16 is
    emulated and ran 10× slower here."""
    if device.type == "cuda":
        return True
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_for(device: torch.device, enabled: bool):
    """The autocast context of a training or timing step: bf16 where the device has it,
    fp16 on older GPUs, none when `enabled` is false."""
    if not enabled:
        return torch.autocast(device.type, enabled=False)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _set_frozen(groups: list[nn.Module], frozen: bool) -> None:
    for group in groups:
        for p in group.parameters():
            p.requires_grad_(not frozen)
        for m in group.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train(not frozen)


def check_init(path: Path) -> ModelCard:
    """The card of a model to start training from; ValueError for one that cannot be (int8)."""
    card = load_card(path)
    if card.quantization:
        raise ValueError(f"{path} is an int8 model: --init its float model, "
                         f"{card.quantization['of']}")
    return card


def load_init(model: nn.Module, path: Path) -> tuple[dict[str, Any], ModelCard]:
    """Copy weights from a facepair model file into `model` where names and shapes match.
    Returns what was copied (with the source model's provenance) and the source's card."""
    check_init(path)
    source, card = load_network(path)
    theirs, ours = source.state_dict(), model.state_dict()
    matched = {k: v for k, v in theirs.items() if k in ours and ours[k].shape == v.shape}
    ours.update(matched)
    model.load_state_dict(ours)
    report = {"path": str(path), "name": card.name, "matched": len(matched),
              "total": len(ours), "source": card.source, "licence": card.licence}
    return report, card


def hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        return f"{world}× {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    return f"{world} process(es) × {torch.get_num_threads()} CPU thread(s), {cpu}"


def background_strangers(
    model: nn.Module, data: CropSet, card: ModelCard, device: torch.device
) -> np.ndarray:
    """The background faces (of training people's photos) that the starting `model`, whose
    card is `card`, scores under its FAR 1e-6 threshold against every face of the data set,
    held-out ones included: strangers, not a person of the data seen in someone's background."""
    if not len(data.background):
        return data.background
    embed = embed_fn(model, device, amp=False, normalisation=card.normalisation.model_dump(),
                     flip=False)
    faces = [data.crops] + ([data.holdout.crops] if data.holdout is not None else [])
    known = np.concatenate([embed(c) for c in faces])
    best = np.max(embed(data.background) @ known.T, axis=1)
    if not card.thresholds or "1e-6" not in card.thresholds:
        raise ValueError(f"{card.name}'s card has no threshold at 1e-6 to tell strangers by")
    return data.background[best < card.thresholds["1e-6"]]


def embed_fn(
    model: nn.Module, device: torch.device, amp: bool, batch: int = 128,
    normalisation: dict | None = None, flip: bool = True,
):
    """uint8 crops → (flip-summed) unit vectors, with the model in eval mode meanwhile."""
    norm = Normalisation.model_validate(normalisation or NORMALISATION)

    def embed(crops: np.ndarray) -> np.ndarray:
        was_training = model.training
        model.eval()
        try:
            return embed_with(model, crops, norm, device, flip,
                              batch_size=batch, autocast=autocast_for(device, amp))
        finally:
            model.train(was_training)

    return embed


class Log:
    FIELDS = ("time", "step", "epoch", "lr", "loss", "img_per_s", "view1_accuracy",
              "view1_devtrain_accuracy", "view1_auc", "holdout_auc", "holdout_tar_at_far_1e-3",
              "holdout_tar_at_far_1e-4")

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            with path.open("w", newline="") as f:
                csv.writer(f).writerow(self.FIELDS)

    def write(self, **row: Any) -> None:
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in self.FIELDS])


def shared_batches(data: CropSet, cfg: TrainConfig, steps: int,
                   rng: np.random.Generator) -> np.ndarray:
    """`steps` batches of `batch_size // m_per_class` people with `m_per_class` photos each
    (drawn without repeats where a person has enough), a `class_share` of the people of each
    batch from the folders it names, the rest from all others."""
    per_batch = cfg.batch_size // cfg.m_per_class
    folder = np.array([str(name).split("/", 1)[0] for name in data.people])
    rows_of = [np.flatnonzero(data.labels == label) for label in range(data.num_people)]
    pools, shares = [], []
    taken = np.zeros(len(folder), dtype=bool)
    for prefix, share in cfg.class_share.items():
        mine = np.char.startswith(folder, prefix) & ~taken
        if not mine.any():
            raise ValueError(f"class_share: no data folder starts with {prefix!r}")
        taken |= mine
        pools.append(np.flatnonzero(mine))
        shares.append(share)
    pools.append(np.flatnonzero(~taken))
    counts = [round(share * per_batch) for share in shares]
    counts.append(per_batch - sum(counts))
    batches = np.empty((steps, per_batch * cfg.m_per_class), dtype=np.int64)
    for step in range(steps):
        people = np.concatenate([rng.choice(pool, n, replace=False)
                                 for pool, n in zip(pools, counts, strict=True) if n])
        batches[step] = np.concatenate([
            rng.choice(rows_of[p], cfg.m_per_class, replace=len(rows_of[p]) < cfg.m_per_class)
            for p in people])
    return batches


@dataclass
class State:
    """What a run has done so far; kept in every checkpoint, so a resumed run goes on."""

    step: int = 0
    train_seconds: float = 0.0
    evals: list[dict] = field(default_factory=list)  # LFW View 1 figures by step
    holdout: list[dict] = field(default_factory=list)  # held-out people's figures by step
    best: dict | None = None  # the held-out figures of the best step (best.pt)


class Trainer:
    """One training run: the data, the network and its optimiser, the loss and the miner
    (wrapped for torchrun where there are several processes), checkpoints and judgements.
    `run()` trains to the end (or `max_steps`), resuming from `out/last.pt` where it exists."""

    def __init__(self, cfg: TrainConfig, on_step: Callable[[int, int, float], None] | None = None
                 ) -> None:
        self.cfg, self.on_step = cfg, on_step
        self.rank, self.world, local_rank = _distributed()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(cfg.seed + self.rank)
        self.amp = amp_default(self.device) if cfg.amp is None else cfg.amp
        self.out = cfg.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.last = self.out / "last.pt"
        self.data = open_prepared(cfg.data, cfg.holdout, cfg.seed, cfg.shard_window)
        if isinstance(self.data, ShardSet) and (cfg.class_share or cfg.background_negatives):
            raise ValueError("class_share and background_negatives need flat prepared sets "
                             "(held in memory), not shards")
        self._network()
        self.steps_per_epoch = max(1, len(self.data) // (cfg.batch_size * self.world))
        self.total = cfg.epochs * self.steps_per_epoch
        self.warmup = max(1, int(cfg.warmup_epochs * self.steps_per_epoch))
        self.state = State()
        if self.last.exists():
            ckpt = torch.load(self.last, map_location=self.device, weights_only=True)
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.state = State(**{"holdout": [], "best": None, **ckpt["state"]})
            if self.rank == 0:
                print(f"resumed from {self.last} at step {self.state.step}", file=sys.stderr)
        self.net: nn.Module = self.model
        self.loss_fn: nn.Module = losses.MultiSimilarityLoss(cfg.ms_alpha, cfg.ms_beta,
                                                             cfg.ms_base)
        self.miner: nn.Module = miners.MultiSimilarityMiner(epsilon=cfg.miner_epsilon)
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(self.model)
            self.loss_fn = pml_dist.DistributedLossWrapper(self.loss_fn)
            self.miner = pml_dist.DistributedMinerWrapper(self.miner)
        self.log = Log(self.out / "log.csv") if self.rank == 0 else None
        self.embed = embed_fn(self.model, self.device, self.amp, normalisation=self.norm)

    def _network(self) -> None:
        """The network (from `init` where given), its input normalisation, the background
        strangers, and the optimiser over its upper and (slower) lower layers."""
        cfg, data, device = self.cfg, self.data, self.device
        self.arch = {**cfg.architecture, "input_size": data.size}
        model = build(self.arch)
        self.init_report: dict[str, Any] | None
        self.init_report, init_card = load_init(model, cfg.init) if cfg.init else (None, None)
        self.norm = init_card.normalisation.model_dump() if init_card else NORMALISATION
        self.strangers = np.zeros((0, data.size, data.size, 3), dtype=np.uint8)
        if cfg.background_negatives:
            assert isinstance(data, CropSet), "background_negatives needs a CropSet"
            if init_card is None:
                raise ValueError("background_negatives needs init: a model that can tell which "
                                 "background faces are people of the data set")
            self.strangers = background_strangers(model, data, init_card, device)
            if self.rank == 0:
                print(f"{len(self.strangers)} of {len(data.background)} background faces are "
                      "trained on as strangers", file=sys.stderr)
        self.template = json.loads((cfg.data[0] / "prepare.json").read_text()).get("template")
        self.mean = torch.tensor(self.norm["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(self.norm["std"], device=device).view(1, 3, 1, 1)
        self.model = model.to(device).to(memory_format=torch.channels_last)
        # every backbone has layer_groups (torch's stubs type a module's attributes loosely)
        self.groups: list[nn.Module] = self.model.layer_groups()  # type: ignore[operator]
        lower = [p for g in self.groups[: cfg.freeze_lower] for p in g.parameters()]
        lower_ids = {id(p) for p in lower}
        upper = [p for p in self.model.parameters() if id(p) not in lower_ids]
        param_groups = [{"params": upper, "lr_scale": 1.0}]
        if lower:
            param_groups.append({"params": lower, "lr_scale": cfg.lower_lr_scale})
        self.optimizer = torch.optim.AdamW(param_groups, lr=cfg.lr,
                                           weight_decay=cfg.weight_decay)

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then a cosine down to zero at the last step."""
        cfg = self.cfg
        if step < self.warmup:
            return cfg.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def save(self, path: Path | None = None) -> None:
        """A checkpoint (rank 0 only), written whole or not at all."""
        if self.rank != 0:
            return
        path = path or self.last
        payload = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "state": asdict(self.state), "config": self.cfg.model_dump(mode="json"),
            "architecture": self.arch, "normalisation": self.norm, "template": self.template,
            "hardware": hardware(self.device, self.world), "init": self.init_report,
        }
        tmp = path.with_suffix(".pt.tmp")
        torch.save(payload, tmp)
        os.replace(tmp, path)  # a checkpoint is either the old one or the new one, whole

    def _epoch(self, step: int) -> float:
        return round(step / self.steps_per_epoch, 3)

    def judge(self) -> None:
        """Score the held-out people; keep the best step so far as best.pt."""
        if self.rank != 0 or self.data.holdout is None:
            return
        from training.evaluate import pair_figures

        figures = pair_figures(*self.data.holdout.embedded(self.embed))
        state, select = self.state, self.cfg.select_by
        row = {"step": state.step, **figures}
        if state.best is None or figures[select] > state.best[select]:
            state.best = row
            self.save(self.out / "best.pt")
        state.holdout.append(row)
        assert self.log is not None
        self.log.write(time=round(time.time()), step=state.step, epoch=self._epoch(state.step),
                       holdout_auc=figures["auc"],
                       **{f"holdout_{k}": figures[k] for k in ("tar_at_far_1e-3",
                                                               "tar_at_far_1e-4")})
        print(f"step {state.step}: held-out people {figures}", file=sys.stderr)

    def evaluate_now(self) -> dict | None:
        """LFW View 1 now (rank 0, where LFW is present)."""
        if self.rank != 0 or self.cfg.lfw_data is None:
            return None
        from training.evaluate import evaluate

        try:
            result = evaluate(self.embed, self.data.size, views=("1",),
                              data_dir=self.cfg.lfw_data, template=self.template,
                              cache_dir=self.cfg.out / "cache")["view1"]
        except FileNotFoundError:
            return None
        step = self.state.step
        self.state.evals.append({"step": step, **result})
        assert self.log is not None
        self.log.write(time=round(time.time()), step=step, epoch=self._epoch(step),
                       view1_accuracy=result["accuracy"],
                       view1_devtrain_accuracy=result["devtrain_accuracy"],
                       view1_auc=result["auc"])
        print(f"step {step}: LFW View 1 {result}", file=sys.stderr)
        return result

    def _batches(self, epoch: int) -> np.ndarray:
        """This epoch's batches of crop rows (the same on a resumed run)."""
        cfg = self.cfg
        if isinstance(self.data, ShardSet):
            return self.data.batches(self.steps_per_epoch, cfg.batch_size, cfg.m_per_class,
                                     cfg.seed, epoch, self.rank, self.world)
        pml_common.NUMPY_RANDOM = np.random.RandomState(cfg.seed + 1000 * epoch + self.rank)
        if cfg.class_share:
            assert isinstance(self.data, CropSet), "class_share needs a CropSet"
            return shared_batches(self.data, cfg, self.steps_per_epoch,
                                  np.random.default_rng([cfg.seed, epoch, self.rank]))
        sampler = samplers.MPerClassSampler(
            self.data.labels, cfg.m_per_class, batch_size=cfg.batch_size,
            length_before_new_iter=self.steps_per_epoch * cfg.batch_size,
        )
        order = np.fromiter(iter(sampler), dtype=np.int64)
        return order.reshape(self.steps_per_epoch, cfg.batch_size)

    def _step(self, index: np.ndarray) -> tuple[float, float]:
        """One optimiser step on these rows (and background strangers): (loss, seconds)."""
        cfg, step, device = self.cfg, self.state.step, self.device
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr_at(step) * g["lr_scale"]
        tick = time.perf_counter()
        images, labels = self.data.batch(index)
        if len(self.strangers):
            pick = np.random.default_rng([cfg.seed, self.rank, step]).choice(
                len(self.strangers), cfg.background_negatives, replace=False)
            images = torch.cat([images, torch.from_numpy(
                self.strangers[np.sort(pick)]).permute(0, 3, 1, 2)])
            # labels no person has, distinct across processes (losses compare all ranks')
            first = self.data.num_people + self.rank * cfg.background_negatives
            labels = torch.cat([labels, torch.arange(first, first + len(pick))])
        x = augment(images.to(device).float())
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        labels = labels.to(device)
        with autocast_for(device, self.amp):
            emb = self.net(x)
        emb = emb.float()
        loss = self.loss_fn(emb, labels, self.miner(emb, labels))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach()), time.perf_counter() - tick

    def run(self) -> dict:
        cfg, state = self.cfg, self.state
        stop = min(self.total, cfg.max_steps) if cfg.max_steps else self.total
        last_ckpt = last_eval = time.monotonic()
        frozen = None
        self.model.train()
        losses_seen: list[float] = []
        if state.step == 0 and not state.holdout:
            self.judge()  # the starting point (for --init, the model it starts from)
        while state.step < stop:
            epoch = state.step // self.steps_per_epoch
            for index in self._batches(epoch)[state.step - epoch * self.steps_per_epoch :]:
                if state.step >= stop:
                    break
                step = state.step
                want_frozen = (bool(cfg.freeze_lower)
                               and step < cfg.freeze_epochs * self.steps_per_epoch)
                if want_frozen != frozen:
                    _set_frozen(self.groups[: cfg.freeze_lower], want_frozen)
                    frozen = want_frozen
                loss, seconds = self._step(index)
                state.train_seconds += seconds
                state.step += 1
                losses_seen.append(loss)
                if self.on_step:
                    self.on_step(state.step, stop, loss)
                if self.log is not None and (state.step % 20 == 0 or state.step == stop):
                    self.log.write(time=round(time.time()), step=state.step,
                                   epoch=self._epoch(state.step), lr=f"{self.lr_at(step):.3g}",
                                   loss=f"{np.mean(losses_seen[-20:]):.4f}",
                                   img_per_s=round(len(index) * self.world / seconds, 1))
                now = time.monotonic()
                if now - last_ckpt > cfg.checkpoint_minutes * 60:
                    self.save()
                    last_ckpt = now
                if cfg.eval_minutes and now - last_eval > cfg.eval_minutes * 60:
                    self.evaluate_now()
                    last_eval = time.monotonic()
                if cfg.holdout_every and state.step % cfg.holdout_every == 0:
                    self.judge()
        if state.holdout and state.holdout[-1]["step"] != state.step:
            self.judge()
        self.save()
        result = {"steps": state.step, "total_steps": self.total, "losses": losses_seen,
                  "checkpoint": str(self.last), "train_seconds": round(state.train_seconds, 1),
                  "best": state.best}
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()
        return result


def train(cfg: TrainConfig, on_step: Callable[[int, int, float], None] | None = None) -> dict:
    """Train (or resume) a run as `cfg` says; returns its steps, losses and best figures."""
    return Trainer(cfg, on_step).run()
