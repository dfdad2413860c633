"""Loaders: the generic `records` loader and Python hooks for formats that need code."""
