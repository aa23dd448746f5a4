"""The gallery: the persistent store, the FAISS index over it, album tagging and XMP sidecars."""
