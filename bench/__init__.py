"""Benchmarks against the anchor (face_recognition / dlib), one command each; figures print last.

What every benchmark shares is here:
- a command (a benchmark, `facepair … --json`, an anchor script) prints its one JSON object
  last, on one line: `last_json` reads it;
- `BIN`: the running venv's commands (`facepair`, `schemathesis`), `FACEPAIR` the first;
- the data sets: `FACEPAIR_DATA_DIR`, by default `../shared/data` beside the checkout;
- `CACHE`: the one folder that keeps what the benchmarks build once and reuse (the anchor's
  venv, the photo sets made from LFW, cached detections and encodings, the phone album, the
  learn-from-tags libraries) and the soak run's report. It is `~/.cache/facepair/bench`,
  outside the checkout so that every checkout shares it, unless `FACEPAIR_BENCH_CACHE` names
  another; delete it, or a file in it, to have that built again.
"""

import json
import os
import sys
from pathlib import Path

# the data sets beside the checkout (../shared/data), unless FACEPAIR_DATA_DIR names others
os.environ.setdefault("FACEPAIR_DATA_DIR",
                      str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"))

BIN = Path(sys.executable).parent  # the running venv's commands: facepair, schemathesis
FACEPAIR = str(BIN / "facepair")
CACHE = Path(os.environ.get("FACEPAIR_BENCH_CACHE")
             or Path.home() / ".cache" / "facepair" / "bench")


def last_json(stdout: str) -> dict:
    """The JSON object a command printed last (on its last line)."""
    return json.loads(stdout.strip().splitlines()[-1])
