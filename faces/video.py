"""Video files → sampled RGB frames, with PyAV (which bundles its own FFmpeg libraries).

A video is opened and checked before any frame is decoded (`probe`): a file that is no video,
a codec the decoder lacks, and a video longer than the length limit (read from the
container's duration, never by decoding it all) are refused as `faces.decode` refuses
photos. `frames` then decodes the video `probe` checked once, front to back, and keeps a
frame every 1 / rate seconds, as RGB uint8 arrays no larger than the pixel limit; a video
whose frames stop well before its stated end is refused as truncated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from faces.errors import CorruptVideo, EmptyPhoto, NotFound, UnsupportedVideo, VideoTooLong

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v"})
# the seconds a video's last frame may lie before its stated end (past them: truncated)
END_SLACK = 1.0


@dataclass(frozen=True)
class VideoInfo:
    """What a video's container says: its frame size, length in seconds and codec."""

    width: int
    height: int
    duration: float
    codec: str


@dataclass(frozen=True)
class Frame:
    """A sampled frame: its time in seconds, its RGB pixels and full size over theirs."""

    time: float
    image: np.ndarray
    scale: float


def is_video_path(path: Path) -> bool:
    """Whether a file name looks like a video we read (by suffix)."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def _opened(path: Path) -> av.container.InputContainer:
    """The container opened; a missing, empty or unreadable file refused."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise NotFound(f"{path}: no such file") from exc
    if size == 0:
        raise EmptyPhoto(f"{path}: the file is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r")
    except av.error.InvalidDataError as exc:
        with path.open("rb") as file:
            head = file.read(12)
        if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):  # an MP4/MOV's boxes
            raise CorruptVideo(f"{path}: the video is truncated or corrupt (its container "
                               f"cannot be read: {exc.strerror})") from exc
        raise UnsupportedVideo(f"{path}: not a video of a supported kind (MP4, MOV, M4V)"
                               ) from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise CorruptVideo(f"{path}: the video cannot be opened ({exc})") from exc


def _stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    """The container's video stream, one the decoder has a codec for."""
    if not set(container.format.name.split(",")) & {"mov", "mp4"}:  # (an .m4v is an MP4)
        raise UnsupportedVideo(f"{path}: not a video of a supported kind (MP4, MOV, M4V)")
    if not container.streams.video:
        raise UnsupportedVideo(f"{path}: holds no video stream")
    stream = container.streams.video[0]
    codec = stream.codec_context
    name = getattr(codec, "name", None) if codec is not None else None
    if not name or name == "none":
        tag = getattr(stream, "codec_tag", "") or "unknown"
        raise UnsupportedVideo(f"{path}: its video codec ({tag}) is one the decoder lacks")
    return stream


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    """The video's length in seconds, as its container (or stream) states it; 0: unknown."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _limits(info: VideoInfo, path: Path, max_seconds: float) -> None:
    if info.width <= 0 or info.height <= 0:
        raise CorruptVideo(f"{path}: the header gives an empty frame size "
                           f"{info.width}×{info.height}")
    if info.duration > max_seconds:
        raise VideoTooLong(f"{path}: {clock(info.duration)} long, over the limit of "
                           f"{clock(max_seconds)} (FACEPAIR_VIDEO_MAX_SECONDS); refused "
                           "undecoded")


def probe(path: Path | str, max_seconds: float) -> VideoInfo:
    """What a video's container says, checked: refused (a `PhotoError`) if it is no video,
    its codec cannot be decoded, or it is longer than `max_seconds`. Nothing is decoded."""
    path = Path(path)
    with _opened(path) as container:
        stream = _stream(container, path)
        info = VideoInfo(stream.codec_context.width, stream.codec_context.height,
                         _duration(container, stream), stream.codec_context.name)
    _limits(info, path, max_seconds)
    return info


def reduced_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The frame size kept: the video's own, or shrunk to `max_pixels` (even sides)."""
    if width * height <= max_pixels:
        return width, height
    share = math.sqrt(max_pixels / (width * height))
    return max(2, int(width * share) // 2 * 2), max(2, int(height * share) // 2 * 2)


def frames(path: Path | str, info: VideoInfo, rate: float, max_seconds: float,
           max_pixels: int) -> Iterator[Frame]:
    """A frame every 1 / `rate` seconds, from the first, as RGB no larger than `max_pixels`,
    of the video `probe` answered `info` for. Raises CorruptVideo where the data breaks off,
    or where the frames end more than END_SLACK seconds before the stated end (a truncated
    file); VideoTooLong where they run past `max_seconds`."""
    path = Path(path)
    width, height = reduced_size(info.width, info.height, max_pixels)
    step, due, last = 1.0 / rate, 0.0, -1.0
    with _opened(path) as container:
        stream = _stream(container, path)
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                last = max(last, frame.time)
                if last > max_seconds + step:  # a container that understated its length
                    raise VideoTooLong(f"{path}: longer than the limit of {clock(max_seconds)}")
                if frame.time + 1e-6 < due:
                    continue
                due = (math.floor(frame.time / step + 1e-6) + 1) * step
                image = frame.to_ndarray(format="rgb24", width=width, height=height)
                yield Frame(float(frame.time), image, info.width / width)
        except av.error.FFmpegError as exc:
            raise CorruptVideo(f"{path}: the {info.codec} data is corrupt or truncated "
                               f"({exc})") from exc
    if last < 0:
        raise CorruptVideo(f"{path}: no frame could be decoded (corrupt or truncated)")
    if info.duration and last < info.duration - END_SLACK:
        raise CorruptVideo(f"{path}: the frames end at {clock(last)} of "
                           f"{clock(info.duration)} (truncated)")


def frame_at(path: Path | str, time: float, max_pixels: int) -> np.ndarray:
    """The frame shown at `time` seconds (the first frame for 0), as RGB no larger than
    `max_pixels`."""
    path = Path(path)
    with _opened(path) as container:
        stream = _stream(container, path)
        width, height = reduced_size(stream.codec_context.width, stream.codec_context.height,
                                     max_pixels)
        if time > 0 and stream.time_base is not None:
            container.seek(int(time / stream.time_base), stream=stream, backward=True)
        found = None
        try:
            for frame in container.decode(stream):
                found = frame
                if frame.time is None or frame.time + 1e-3 >= time:
                    break
        except av.error.FFmpegError as exc:
            if found is None:
                raise CorruptVideo(f"{path}: no frame at {clock(time)} ({exc})") from exc
        if found is None:
            raise CorruptVideo(f"{path}: no frame at {clock(time)}")
        return found.to_ndarray(format="rgb24", width=width, height=height)


def clock(seconds: float) -> str:
    """Seconds as a clock: 0:12, 1:02:05."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
