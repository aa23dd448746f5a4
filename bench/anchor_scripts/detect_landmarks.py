"""Run inside the anchor's venv: face_recognition's HOG face_locations + face_landmarks on each
photo listed in a file, decoding included. Prints one JSON object with the per-photo times."""

import json
import sys
import time

import face_recognition

with open(sys.argv[1]) as listing:
    paths = [line.strip() for line in listing if line.strip()]
times, faces = [], 0
face_recognition.face_landmarks(face_recognition.load_image_file(paths[0]))  # warm-up
for path in paths:
    start = time.perf_counter()
    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    face_recognition.face_landmarks(image, face_locations=boxes)
    times.append(time.perf_counter() - start)
    faces += len(boxes)
print(json.dumps({"seconds": times, "faces": faces}))
