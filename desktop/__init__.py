"""Parley: a private voice assistant that runs on the user's own device."""

__version__ = "0.1.0"
