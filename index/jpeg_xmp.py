"""The XMP packet inside a JPEG (its APP1 segment named `http://ns.adobe.com/xap/1.0/`), read
and replaced without touching anything else of the file: every other segment and the
compressed image data stay byte for byte as they were.

A replacement is written whole or not at all: a new file of our own beside the photo, flushed
to disk, with the photo's permissions, renamed over it, the folder flushed. A photo that is a
symbolic link, is not a JPEG that parses up to its image data, or holds extended XMP (a packet
split over several segments) is refused with `PhotoLeftAlone`, and stays as it is.
"""

from __future__ import annotations

import stat
from pathlib import Path

from index.files import write_whole

XMP_NAME = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_NAME = b"http://ns.adobe.com/xmp/extension/\x00"
MAX_PACKET = 0xFFFF - 2 - len(XMP_NAME)  # what one segment holds
SOI, SOS, APP1 = 0xD8, 0xDA, 0xE1
PADDING = 2048  # room for another tool to edit the packet in place (the XMP spec's advice)


class PhotoLeftAlone(Exception):
    """A photo facepair will not write into; it stays as it is."""


def is_jpeg(path: Path) -> bool:
    return path.suffix.lower() in (".jpg", ".jpeg", ".jpe")


def _segments(data: bytes, path: Path) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment before the image data; the last is the start of
    scan, which runs to the end of the file."""
    if data[:2] != b"\xff\xd8":
        raise PhotoLeftAlone(f"{path}: not a JPEG")
    found, at = [], 2
    while True:
        if at + 4 > len(data) or data[at] != 0xFF:
            raise PhotoLeftAlone(f"{path}: its JPEG segments do not parse")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == SOS:
            found.append((marker, at, len(data)))
            return found
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            found.append((marker, at, at + 2))
            at += 2
            continue
        end = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if end > len(data):
            raise PhotoLeftAlone(f"{path}: a JPEG segment runs past the end of the file")
        found.append((marker, at, end))
        at = end


def read_packet(path: Path) -> bytes | None:
    """The photo's XMP packet, or None where it has none. Only the segments before the image
    data are read, not the photo's pixels."""
    with path.open("rb") as f:
        if f.read(2) != b"\xff\xd8":
            raise PhotoLeftAlone(f"{path}: not a JPEG")
        while True:
            head = f.read(2)
            if len(head) < 2 or head[0] != 0xFF:
                raise PhotoLeftAlone(f"{path}: its JPEG segments do not parse")
            marker = head[1]
            if marker == 0xFF:  # fill byte
                f.seek(-1, 1)
                continue
            if marker == SOS:
                return None
            if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
                continue
            size = f.read(2)
            length = int.from_bytes(size, "big") - 2
            payload = f.read(max(0, length))
            if len(size) < 2 or len(payload) < length:
                raise PhotoLeftAlone(f"{path}: a JPEG segment runs past the end of the file")
            if marker == APP1 and payload.startswith(XMP_NAME):
                return payload[len(XMP_NAME) :]


def write_packet(path: Path, packet: bytes) -> None:
    """Put `packet` (an XMP document) into the photo in place of its packet (or after its
    APP0/APP1 EXIF segments, where it has none). Everything else stays byte for byte."""
    if path.is_symlink():
        raise PhotoLeftAlone(f"{path}: a symbolic link; facepair does not write through it")
    data = path.read_bytes()
    segments = _segments(data, path)
    if any(m == APP1 and data[s + 4 : s + 4 + len(EXTENDED_NAME)] == EXTENDED_NAME
           for m, s, _ in segments):
        raise PhotoLeftAlone(f"{path}: holds extended XMP, which facepair does not rewrite")
    body = packet + b" " * PADDING if len(packet) + PADDING <= MAX_PACKET else packet
    if len(body) > MAX_PACKET:
        raise PhotoLeftAlone(f"{path}: the XMP would take {len(body):,} bytes, more than one "
                             "JPEG segment holds")
    segment = b"\xff\xe1" + (2 + len(XMP_NAME) + len(body)).to_bytes(2, "big") + XMP_NAME + body
    old = next(((s, e) for m, s, e in segments
                if m == APP1 and data[s + 4 : s + 4 + len(XMP_NAME)] == XMP_NAME), None)
    if old is not None:
        new = data[: old[0]] + segment + data[old[1] :]
    else:  # after the SOI and the APP0 (JFIF) / APP1 (EXIF) segments that lead the file
        at = 2
        for marker, start, end in segments:
            if start == at and marker in (0xE0, APP1):
                at = end
        new = data[:at] + segment + data[at:]
    _replace(path, new)


def _replace(path: Path, data: bytes) -> None:
    """The photo replaced whole or not at all, with its permissions (`index.files`)."""
    write_whole(path, data, path.with_name(f".{path.name}.facepair.tmp"),
                stat.S_IMODE(path.stat().st_mode))
