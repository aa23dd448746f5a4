"""Benchmarks against the anchor (face_recognition / dlib), one command each; figures print last."""

import os
from pathlib import Path

# the data sets beside the checkout (../shared/data), unless FACEPAIR_DATA_DIR names others
os.environ.setdefault("FACEPAIR_DATA_DIR",
                      str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
