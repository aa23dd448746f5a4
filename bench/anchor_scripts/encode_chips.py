"""Run inside the anchor's venv: dlib's face encoder (the model inside face_recognition) on
aligned 150×150 chips from a .npy file, one at a time and batched. Prints one JSON object."""

import json
import sys
import time

import dlib
import face_recognition_models
import numpy as np

chips = np.load(sys.argv[1])
encoder = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
encoder.compute_face_descriptor(chips[0])  # warm-up
start = time.perf_counter()
singles = []
for chip in chips[:64]:
    t = time.perf_counter()
    encoder.compute_face_descriptor(chip)
    singles.append(time.perf_counter() - t)
start = time.perf_counter()
encoder.compute_face_descriptor(list(chips))
batched = time.perf_counter() - start
print(json.dumps({"chips": len(chips), "batched_seconds": batched,
                  "single_median_seconds": float(np.median(singles))}))
