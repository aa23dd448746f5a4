"""faces.memory: freed memory kept for the next batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_kept_memory_serves_the_next_batch_without_page_faults() -> None:
    """With `keep_freed_memory` (album workers, the CLI, the service), what a batch freed serves
    the next batch: no pages faulted in again (glibc hands blocks of a few MB back by default)."""
    probe = (
        "import resource, sys, numpy as np\n"
        "if sys.argv[1] == 'keep':\n"
        "    from faces.memory import keep_freed_memory; keep_freed_memory()\n"
        "def faults():\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "def batch():  # a layer's output, its activation, a pooled copy: as in a forward pass\n"
        "    a = np.ones(2 << 20, np.float32); b = a * 2; del a\n"
        "    return np.ascontiguousarray(b[::2])\n"
        "batch(); before = faults()\n"
        "for _ in range(5): batch()\n"
        "print(faults() - before)\n"
    )
    root = Path(__file__).resolve().parents[1]
    faults = {how: int(subprocess.run([sys.executable, "-c", probe, how], cwd=root, check=True,
                                      capture_output=True, text=True).stdout)
              for how in ("default", "keep")}
    assert faults["default"] > 5 * 500  # 8 MB blocks faulted in anew, batch after batch
    assert faults["keep"] < 100


def test_released_memory_leaves_the_process() -> None:
    """`release_freed_memory` (before album workers are forked: they start with every page
    the parent holds) hands freed blocks kept by `keep_freed_memory` back to the kernel."""
    probe = (
        "import numpy as np\n"
        "from faces.memory import keep_freed_memory, release_freed_memory\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 >> 20\n"
        "keep_freed_memory()\n"
        "blocks = [np.ones(4 << 20, np.uint8) for _ in range(50)]; del blocks\n"
        "kept = rss(); released = release_freed_memory()\n"
        "print(kept, rss(), released)\n"
    )
    root = Path(__file__).resolve().parents[1]
    kept, after, released = subprocess.run([sys.executable, "-c", probe], cwd=root, check=True,
                                           capture_output=True, text=True).stdout.split()
    assert released == "True"
    assert int(kept) - int(after) > 150  # of the 200 MB freed


def test_kernel_caches_are_capped_unless_set() -> None:
    """Importing the face pipeline caps PyTorch's oneDNN kernel caches (read when torch
    loads) before torch loads; a value the user set is kept."""
    probe = ("import os, faces, torch\n"
             "print(os.environ['LRU_CACHE_CAPACITY'],"
             " os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])")
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("LRU_CACHE_CAPACITY", "ONEDNN_PRIMITIVE_CACHE_CAPACITY")}
    run = [sys.executable, "-c", probe]
    assert subprocess.run(run, cwd=root, env=env, check=True, capture_output=True,
                          text=True).stdout.split() == ["64", "64"]
    assert subprocess.run(run, cwd=root, env={**env, "LRU_CACHE_CAPACITY": "500"}, check=True,
                          capture_output=True, text=True).stdout.split() == ["500", "64"]
