"""`facepair prepare SRC DST`: an identity-folder dataset → aligned crops, memory-mappable.

DST holds:
- `crops.npy`: uint8 N×S×S×3 aligned crops, one row per source photo (`np.load(mmap_mode="r")`);
- `manifest.csv`: per row the source path, person, label, detector score and status
  (`ok`, `no_face`, or `error: …`); only `ok` rows are used for training;
- `done.npy`: which rows are finished, so an interrupted run resumes where it stopped;
- `others.npy` + `others.csv`: every other face found in the photos (the people in the
  background), aligned the same way, with the row of the photo it came from. Nobody knows who
  they are, so they never train as anyone: those of held-out people's photos are strangers on
  which a model's thresholds are checked (`training.data.Holdout.others`), the rest may join
  batches as strangers (`TrainConfig.background_negatives`). Written per chunk under
  `others/` while running.
Workers each load the detector once and take chunks of photos.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from faces.boxes import Box
from training.people import scan, scan_tags

CHUNK = 32


@dataclass
class PrepareReport:
    photos: int
    ok: int
    no_face: int
    errors: int
    people: int
    others: int  # faces besides the labelled ones (others.npy)
    shards: int = 0  # a set written in shards: how many (0: one flat set)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


if TYPE_CHECKING:
    from faces.detect import Detector

_detector: Detector | None = None  # one per worker process (_init_worker)


def _init_worker(threads: int) -> None:
    import torch

    from faces.detect import Detector

    global _detector
    torch.set_num_threads(threads)
    _detector = Detector()


Others = tuple[np.ndarray, np.ndarray]  # crops K×S×S×3, rows K×(row, size, score) float32


Regions = list[tuple[Box, list[Box]]]  # per photo of a tagged library: (its face's region,
# every named region of the photo)


Task = tuple[int, list[str], int, str, list | None, Regions | None]
Decoded = list[np.ndarray | None]  # a chunk's photos; None where a photo could not be read


def decode_chunk(paths: list[str]) -> tuple[Decoded, list[tuple]]:
    """A chunk's photos decoded, and per photo (score, status): `ok` so far, or its error."""
    from faces.decode import decode
    from faces.errors import FacepairError

    photos: Decoded = []
    rows: list[tuple] = []
    for path in paths:
        try:
            photos.append(decode(path))
            rows.append((0.0, "ok"))
        except FacepairError as exc:
            photos.append(None)
            rows.append((0.0, f"error: {exc.message}"))
    return photos, rows


def align_chunk(
    detector: Detector, start: int, photos: Decoded, rows: list[tuple], size: int, how: str,
    template: list | None, regions: Regions | None,
) -> tuple[int, np.ndarray, list[tuple], Others]:
    """Detect and align one decoded chunk (`decode_chunk`) with `detector`; returns (start,
    crops, [(score, status)], the other faces). With `regions`, each photo's labelled face is
    the one under its region, and faces under any named region are nobody's background.

    The detector runs on the whole chunk at once, and a face's landmarks may differ in their
    last bits with the batch it is found in: the local pool and the Ray actors take the same
    chunks (`CHUNK` photos from a multiple of `CHUNK` in the sorted list), so they cut the
    same crops."""
    from faces.align import align
    from faces.boxes import iou
    from faces.detect import pick_face
    from faces.tags import MATCH

    points = None if template is None else np.asarray(template, dtype=np.float64)
    crops = np.zeros((len(photos), size, size, 3), dtype=np.uint8)
    rows = list(rows)
    good = {i: p for i, p in enumerate(photos) if p is not None}
    found = detector.detect_batch(list(good.values())) if good else []
    other_crops, other_rows = [], []
    for (i, photo), faces in zip(good.items(), found, strict=True):
        named: list[Box] = []
        if regions is None:
            face = pick_face(faces, photo.shape, how)  # type: ignore[arg-type]
        else:
            box, named = regions[i]
            face = max(faces, key=lambda f: iou(f.box, box), default=None)
            if face is not None and iou(face.box, box) < MATCH:
                face = None
        if face is None:
            rows[i] = (0.0, "no_face")
            continue
        crops[i] = align(photo, face.landmarks, size, points)
        rows[i] = (face.score, "ok")
        for other in faces:
            if other is not face and not any(iou(other.box, b) >= MATCH for b in named):
                other_crops.append(align(photo, other.landmarks, size, points))
                other_rows.append((start + i, other.size, other.score))
    others = (np.stack(other_crops) if other_crops else np.zeros((0, size, size, 3), np.uint8),
              np.asarray(other_rows, dtype=np.float32).reshape(-1, 3))
    return start, crops, rows, others


def _process(task: Task) -> tuple[int, np.ndarray, list[tuple], Others]:
    """A local worker's chunk: decoded, then detected and aligned with its detector."""
    start, paths, size, how, template, regions = task
    assert _detector is not None, "prepare's workers start with _init_worker"
    photos, rows = decode_chunk(paths)
    return align_chunk(_detector, start, photos, rows, size, how, template, regions)


def align_chunks(
    paths: list[str], starts: list[int], size: int, face: str, workers: int,
    template: list | None = None, regions: Regions | None = None,
) -> Iterator[tuple[int, np.ndarray, list[tuple], Others]]:
    """Detect and align `paths[s : s + CHUNK]` for each start `s`, in `workers` processes
    (each loads the detector once); yields (start, crops, [(score, status)], other faces) as
    they finish.
    `template`: the 5 points of the crop (default: faces.align's template at `size`).
    `regions`: per path, the tagged region of its face (a tagged library)."""
    tasks = ((s, paths[s : s + CHUNK], size, face, template,
              None if regions is None else regions[s : s + CHUNK]) for s in starts)
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(1,)) as pool:
        yield from pool.imap_unordered(_process, tasks)


def align_all(
    paths: list[str], size: int = 112, face: str = "center", workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None, template: list | None = None,
) -> tuple[np.ndarray, list[tuple]]:
    """Aligned crops and (score, status) rows for every path, in order (in memory)."""
    crops = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    rows: list[tuple] = [(0.0, "")] * len(paths)
    finished = 0
    for start, chunk, chunk_rows, _ in align_chunks(
        paths, list(range(0, len(paths), CHUNK)), size, face, workers, template
    ):
        crops[start : start + len(chunk)] = chunk
        rows[start : start + len(chunk)] = chunk_rows
        finished += len(chunk)
        if on_progress:
            on_progress(finished, len(paths))
    return crops, rows


def prepare(
    src: Path,
    dst: Path,
    include: set[str] | None = None,
    exclude: set[str] | None = None,
    size: int = 112,
    face: Literal["center", "largest"] = "center",
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
    template: list | None = None,
    tags: bool = False,
    shard_photos: int = 0,
    ray: str | None = None,
) -> PrepareReport:
    """Prepare (or resume preparing) `src` into `dst`; returns counts of what came out.
    With `tags`, `src` is a photo library tagged in another tool: each face a user's tag
    names is a labelled face of that person (`training.people.scan_tags`).
    With `shard_photos`, `dst` is written in shards of about that many photos
    (`training.shards`); with `ray` (a cluster's address), the chunks are detected and aligned
    on that Ray cluster (`training.prepare_ray`), always into shards."""
    items, regions = _items(src, include, exclude, tags)
    if ray is not None and not shard_photos:
        from training.shards import SHARD_PHOTOS

        shard_photos = SHARD_PHOTOS
    dst.mkdir(parents=True, exist_ok=True)
    people = sorted({person for _, person in items})
    meta = {"source": str(src), "size": size, "face": "tagged" if tags else face,
            "photos": len(items), "people": len(people), "template": template}
    if shard_photos:
        meta["shard_photos"] = shard_photos
    meta_path = dst / "prepare.json"
    if meta_path.exists() and json.loads(meta_path.read_text()) != meta:
        raise ValueError(f"{dst} holds a different preparation; choose another DST or delete it")
    meta_path.write_text(json.dumps(meta, indent=2))
    if shard_photos:
        return _prepare_shards(items, regions, dst, size, face, workers, on_progress, template,
                               shard_photos, ray)
    return _prepare_flat(items, regions, dst, size, face, workers, on_progress, template)


def _prepare_flat(
    items: list[tuple[Path, str]], regions: Regions | None, dst: Path, size: int, face: str,
    workers: int, on_progress: Callable[[int, int], None] | None, template: list | None,
) -> PrepareReport:
    """One memory-mapped `crops.npy` of every photo, its chunks marked done as they come
    (`done.npy`) and a manifest written at the end."""
    people = sorted({person for _, person in items})
    label_of = {p: i for i, p in enumerate(people)}
    n = len(items)
    crops_path, done_path, rows_path = dst / "crops.npy", dst / "done.npy", dst / "rows.npy"
    mode = "r+" if crops_path.exists() else "w+"
    crops = np.lib.format.open_memmap(crops_path, mode=mode, dtype=np.uint8,
                                      shape=(n, size, size, 3))
    done = np.load(done_path) if done_path.exists() else np.zeros(n, dtype=bool)
    rows = (np.load(rows_path, allow_pickle=False) if rows_path.exists()
            else np.array([(0.0, "")] * n, dtype=[("score", "f4"), ("status", "U200")]))

    todo = [s for s in range(0, n, CHUNK) if not done[s : s + CHUNK].all()]
    finished = n - sum(min(CHUNK, n - s) for s in todo)
    if on_progress:
        on_progress(finished, n)
    paths = [str(p) for p, _ in items]
    others_dir = dst / "others"
    others_dir.mkdir(exist_ok=True)
    for k, (start, chunk, chunk_rows, (other_crops, other_rows)) in enumerate(
        align_chunks(paths, todo, size, face, workers, template, regions)
    ):
        end = start + len(chunk)
        part = others_dir / f"{start:08d}.npz"  # before the chunk counts as done
        np.savez(part.with_suffix(".tmp.npz"), crops=other_crops, rows=other_rows)
        part.with_suffix(".tmp.npz").replace(part)
        crops[start:end] = chunk
        rows[start:end] = np.array(chunk_rows, dtype=rows.dtype)
        done[start:end] = True
        finished += len(chunk)
        if k % 8 == 7:  # checkpoint: crops first, then the done mask
            crops.flush()
            np.save(rows_path, rows)
            np.save(done_path, done)
        if on_progress:
            on_progress(finished, n)
    crops.flush()
    np.save(rows_path, rows)
    np.save(done_path, done)

    with (dst / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "path", "person", "label", "score", "status"])
        for i, ((path, person), (score, status)) in enumerate(zip(items, rows, strict=True)):
            writer.writerow([i, path, person, label_of[person], f"{score:.5f}", status])
    n_others = _gather_others(dst, items, size)
    statuses = rows["status"]
    return PrepareReport(
        photos=n,
        ok=int((statuses == "ok").sum()),
        no_face=int((statuses == "no_face").sum()),
        errors=int(np.char.startswith(statuses, "error").sum()),
        people=len(people),
        others=n_others,
    )


def _prepare_shards(
    items: list[tuple[Path, str]], regions: Regions | None, dst: Path, size: int, face: str,
    workers: int, on_progress: Callable[[int, int], None] | None, template: list | None,
    shard_photos: int, ray: str | None,
) -> PrepareReport:
    """The photos of the shards not yet written, detected and aligned a chunk at a time in
    `workers` local processes or on the Ray cluster at `ray`, written shard by shard."""
    from training.shards import ShardWriter, partition, write_shards

    writer = ShardWriter(dst, items, partition([p for _, p in items], shard_photos), size)
    starts = sorted({row // CHUNK * CHUNK for row in writer.rows_todo()})
    paths = [str(p) for p, _ in items]
    results: Iterator[tuple[int, np.ndarray, list[tuple], Others]]
    if ray is None:
        results = align_chunks(paths, starts, size, face, workers, template, regions)
    else:
        from training.prepare_ray import aligned_on_ray

        results = aligned_on_ray(paths, starts, size, face, template, regions, ray)
    return write_shards(writer, results, len(items), on_progress)


def _items(src: Path, include: set[str] | None, exclude: set[str] | None, tags: bool
           ) -> tuple[list[tuple[Path, str]], Regions | None]:
    """(photo, person) of each labelled face, and for a tagged library each one's region."""
    if not tags:
        items = scan(src, include, exclude)
        if not items:
            raise ValueError(f"{src}: no photos in person folders (expected "
                             "SRC/<person>/<photo>)")
        return items, None
    tagged = scan_tags(src, include, exclude)
    if not tagged:
        raise ValueError(f"{src}: no named face regions in its photos' tags")
    return ([(path, person) for path, person, _, _ in tagged],
            [(box, boxes) for _, _, box, boxes in tagged])


def _gather_others(dst: Path, items: list[tuple[Path, str]], size: int) -> int:
    """One `others.npy` + `others.csv` from the per-chunk files; returns how many."""
    parts = sorted((dst / "others").glob("*[0-9].npz"))
    loaded = [np.load(p) for p in parts]
    crops = (np.concatenate([p["crops"] for p in loaded]) if loaded
             else np.zeros((0, size, size, 3), np.uint8))
    rows = np.concatenate([p["rows"] for p in loaded]) if loaded else np.zeros((0, 3), np.float32)
    np.save(dst / "others.npy", crops)
    with (dst / "others.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "row", "path", "person", "size", "score"])
        for i, (row, face_size, score) in enumerate(rows):
            path, person = items[int(row)]
            writer.writerow([i, int(row), path, person, f"{face_size:.1f}", f"{score:.5f}"])
    return len(crops)
