"""Judging: what every validator runs the same way on a round's updates (no Flower, no FastAPI)."""
