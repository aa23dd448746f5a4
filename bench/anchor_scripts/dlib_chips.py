"""Run inside the anchor's venv: dlib's own 150×150 face chips (HOG detector, 5-point shape
predictor, get_face_chip with padding 0.25) and its descriptors for each listed photo.
Writes chips (N×150×150×3 uint8), descriptors (N×128) and photo indices to an .npz file."""

import sys

import dlib
import face_recognition_models as frm
import numpy as np

paths = [line.strip() for line in open(sys.argv[1]) if line.strip()]  # noqa: SIM115
detector = dlib.get_frontal_face_detector()
shapes = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
chips, descriptors, index = [], [], []
for i, path in enumerate(paths):
    image = dlib.load_rgb_image(path)
    boxes = detector(image, 1)
    if not boxes:
        continue
    box = min(boxes, key=lambda b: (b.center().x - image.shape[1] / 2) ** 2
              + (b.center().y - image.shape[0] / 2) ** 2)
    chip = dlib.get_face_chip(image, shapes(image, box), size=150, padding=0.25)
    chips.append(chip)
    descriptors.append(np.array(encoder.compute_face_descriptor(chip)))
    index.append(i)
np.savez(sys.argv[2], chips=np.stack(chips), descriptors=np.stack(descriptors),
         index=np.array(index))
print(f'{{"chips": {len(chips)}}}')
