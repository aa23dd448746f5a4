"""Run inside the anchor's venv: face_recognition's own pipeline (HOG face_locations, then
face_encodings) on each photo listed in a file; keeps the face nearest the photo centre (LFW's
labelled face). Writes an N×128 .npy (NaN rows where no face) and prints one JSON object."""

import json
import sys
import time

import face_recognition
import numpy as np

with open(sys.argv[1]) as listing:
    paths = [line.strip() for line in listing if line.strip()]
out = np.full((len(paths), 128), np.nan)
start = time.perf_counter()
for i, path in enumerate(paths):
    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image)
    if not boxes:
        continue
    cy, cx = image.shape[0] / 2, image.shape[1] / 2
    box = min(boxes, key=lambda b: ((b[0] + b[2]) / 2 - cy) ** 2 + ((b[1] + b[3]) / 2 - cx) ** 2)
    out[i] = face_recognition.face_encodings(image, known_face_locations=[box])[0]
np.save(sys.argv[2], out)
print(json.dumps({"photos": len(paths), "found": int((~np.isnan(out[:, 0])).sum()),
                  "seconds": time.perf_counter() - start}))
