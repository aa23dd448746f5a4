"""The analyse stage for a video: its sampled frames (`faces.video`) detected and embedded a
batch at a time, each face followed across frames (`faces.track`); and, before naming, the
tracks of one video that are one person joined. A video comes out as an analysed photo whose
faces are its tracks: each track's very best face (box, landmarks, chip, quality, the time of
its frame) with the mean embedding of its best faces, and the spans it was seen over."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from faces.align import face_chip
from faces.detect import Detector, Face
from faces.embed import Embedder
from faces.errors import FacepairError
from faces.track import Seen, Tracker, join, unit_mean
from faces.video import Frame, frames, probe
from index.album.reading import AnalysedPhoto
from index.album.scan import PhotoFile
from index.photos import encode_chip


def batches(items: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def analyse_video(item: PhotoFile, detector: Detector, embedder: Embedder, rate: float,
                  max_seconds: float, max_pixels: int) -> AnalysedPhoto:
    """A video's tracks, as `analyse_decoded` gives a photo's faces (its error instead where
    it cannot be read to its end)."""
    video = AnalysedPhoto(item.path, item.size, item.mtime, item.sha256, ref=item.ref,
                          shown=item.shown, duration=0.0)
    tracker = Tracker()
    try:
        info = probe(item.path, max_seconds)
        video.duration = info.duration
        for batch in batches(frames(item.path, info, rate, max_seconds, max_pixels),
                             detector.settings.detect_batch_size):
            video.height, video.width = (round(v * batch[0].scale)
                                         for v in batch[0].image.shape[:2])
            video.frames += len(batch)
            _track_batch(batch, detector, embedder, tracker)
    except FacepairError as exc:
        video.error = exc.message
        return video
    step = 1.0 / rate
    tracks = tracker.tracks
    video.faces = [t.best.face for t in tracks]
    video.vectors = (np.stack([t.vector() for t in tracks]) if tracks
                     else np.empty((0, embedder.dim), dtype=np.float32))
    video.chips = [t.keep for t in tracks]  # type: ignore[misc]
    video.ranges = [t.ranges(step) for t in tracks]
    video.times = [t.best.time for t in tracks]
    video.sampled = sum(len(t.times) for t in tracks)
    return video


def _track_batch(batch: list[Frame], detector: Detector, embedder: Embedder,
                 tracker: Tracker) -> None:
    """One batch of frames: their faces detected, embedded together and tracked in order; a
    face that is its track's best so far keeps its chip."""
    scale = batch[0].scale
    found = detector.detect_batch([f.image for f in batch], scale=scale)
    crops = [embedder.crops_at(f.image, [face.landmarks for face in faces])
             for f, faces in zip(batch, found, strict=True)]
    vectors = embedder.embed_crops(np.concatenate(crops)) if any(len(c) for c in crops) \
        else np.empty((0, embedder.dim), dtype=np.float32)
    start = 0
    for frame, faces in zip(batch, found, strict=True):
        seen = [Seen(frame.time, _full_size(face, scale), vectors[start + i])
                for i, face in enumerate(faces)]
        start += len(faces)
        for (track, best), face in zip(tracker.add(seen), faces, strict=True):
            if best:
                chip, points = face_chip(frame.image, face.landmarks)
                track.keep = (encode_chip(chip), points.round(3).tolist())


def _full_size(face: Face, scale: float) -> Face:
    """A face found in a frame, in the video's full-size pixels."""
    x1, y1, x2, y2 = (float(v) * scale for v in face.box)
    return Face(box=(x1, y1, x2, y2), score=face.score, landmarks=face.landmarks * scale,
                quality=face.quality)


def merged(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Spans of several tracks as one person's: overlapping or touching ones as one."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1e-6:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def join_tracks(video: AnalysedPhoto, level: float) -> None:
    """The tracks of one video that are one person (their embeddings reach `level`, the
    identify threshold in force) as one track: its best face the best of theirs, its
    embedding the mean of theirs, its spans all of theirs."""
    if video.vectors is None or len(video.faces) < 2 or video.ranges is None:
        return
    groups = join(video.vectors, level)
    if len(groups) == len(video.faces):
        return
    best = [max(g, key=lambda i: video.faces[i].quality or 0.0) for g in groups]
    video.vectors = np.stack([unit_mean(video.vectors[g]) for g in groups])
    video.ranges = [merged([s for i in g for s in video.ranges[i]]) for g in groups]
    video.faces = [video.faces[i] for i in best]
    video.chips = [video.chips[i] for i in best]
    video.times = [video.times[i] for i in best]
