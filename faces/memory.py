"""Memory tuning for inference: let a process keep the memory it frees, for the next batch.

glibc's malloc hands a freed block of a few MB back to the kernel (blocks over its mmap
threshold, and the top of the heap past its trim threshold). A network's activations are such
blocks: every forward pass then asks the kernel for fresh pages and faults them in one by one,
zeroed. On our test machine (a virtual machine, where a page fault is dear) that was 5,100
faults and 15–20 ms of system time for identifying one 1024×768 photo, and 12 of 32 ms of an
ONet batch of 32 boxes (README: "Where album time goes"). Raising both thresholds keeps the
blocks in the process: its memory stays near its peak, up to the limit given.
"""

from __future__ import annotations

import ctypes

# glibc's mallopt parameters (malloc.h)
MALLOC_TRIM_THRESHOLD, MALLOC_MMAP_THRESHOLD, MALLOC_ARENA_MAX = -1, -3, -8
# Some glibc versions refuse an mmap threshold over HEAP_MAX_SIZE / 2, 32 MB on 64-bit (2.36 takes
# more): then this one.
OLD_GLIBC_MMAP_MAX = 32 << 20


def keep_freed_memory(up_to: int = 1 << 30, arenas: int | None = None) -> bool:
    """Keep freed blocks of up to `up_to` bytes, and up to that much free at the top of the
    heap, in this process. `arenas` caps glibc's malloc arenas (by default up to 8 per core,
    one per thread that allocates at once): a service whose many threads each keep freed
    blocks in an arena of their own holds that much more memory. True where it took effect
    (glibc); elsewhere nothing changes."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this interpreter runs on
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without it)
        return False
    if arenas is not None:
        mallopt(MALLOC_ARENA_MAX, arenas)
    for limit in (up_to, min(up_to, OLD_GLIBC_MMAP_MAX)):
        if mallopt(MALLOC_MMAP_THRESHOLD, limit):
            return bool(mallopt(MALLOC_TRIM_THRESHOLD, up_to))
    return False


def release_freed_memory() -> bool:
    """Hand the memory this process has freed back to the kernel (glibc's `malloc_trim`):
    before forking workers, whose resident memory starts with every page the parent holds.
    True where it took effect (glibc)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(trim(0))
