"""faces.memory: freed memory kept for the next batch."""

from __future__ import annotations

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
