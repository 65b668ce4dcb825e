"""Parley's model library: the catalog, verified downloads, imports, fit advice. No Qt."""
