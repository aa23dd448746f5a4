"""The gallery: the persistent store and the FAISS index over it (issue #5)."""
