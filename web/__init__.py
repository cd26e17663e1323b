"""Dockwise's web layer: Flask adapters around the pure `recommender` core."""
