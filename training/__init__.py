"""Auxiliary-task training of the embedder: prepare, train, evaluate, export."""
