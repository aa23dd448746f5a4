"""Run inside the anchor's venv: face_recognition's identify of one photo against a gallery of
known encodings (.npy, with a name per row in a .json list): load, HOG face_locations,
face_encodings, face_distance, best name per face within its default tolerance 0.6. Repeats and
prints one JSON object with the per-run seconds and the names of the last run."""

import json
import sys
import time

import face_recognition
import numpy as np

photo, known_file, names_file, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
known = np.load(known_file)
with open(names_file) as f:
    names = json.load(f)
times, found = [], []
for _ in range(runs + 1):  # the first run is a warm-up
    start = time.perf_counter()
    image = face_recognition.load_image_file(photo)
    boxes = face_recognition.face_locations(image)
    found = []
    for encoding in face_recognition.face_encodings(image, known_face_locations=boxes):
        distances = face_recognition.face_distance(known, encoding)
        best = int(np.argmin(distances))
        found.append(names[best] if distances[best] <= 0.6 else None)
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": times[1:], "names": found}))
