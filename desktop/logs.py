"""Logging: details go to a rotating file in the user log folder, not the terminal."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from desktop import paths


def setup_logging(debug: bool = False, filename: str = "parley.log") -> None:
    """Log to a rotating file; the engine process writes its own file (two processes
    rotating one file would lose lines)."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    try:
        paths.log_dir().mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            paths.log_dir() / filename, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()  # an unwritable log folder must not stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if debug:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
