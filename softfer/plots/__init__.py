"""Figures (matplotlib): a leaf package that imports nothing of softfer above metrics."""
