"""Benchmarks against the anchor (face_recognition / dlib), one command each; figures print last."""
