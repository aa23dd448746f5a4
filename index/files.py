"""A user's files: their content hash, read in blocks, and replacing one whole or not at
all."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_whole(path: Path, data: bytes, tmp: Path, mode: int = 0o644) -> None:
    """Put `data` at `path` through `tmp`, a temporary file of our own beside it (created
    anew, never through a link: whatever lies at its name, a leftover or a planted symlink, is
    removed, not written through), flushed to disk with `mode`, renamed over `path`, the folder
    flushed. A failure (a full disk) leaves `path` as it was and no temporary file behind."""
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
