"""Where Parley keeps its files.

Per-user folders come from platformdirs. ``PARLEY_HOME`` puts every folder
under one directory instead, so tests and portable installs never touch the
real user's settings. In a frozen (PyInstaller) build the bundled resources
live next to the executable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "parley"


def _home_override() -> Path | None:
    value = os.environ.get("PARLEY_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home_override()
    return home / "config" if home else platformdirs.user_config_path(APP_NAME, appauthor=False)


def data_dir() -> Path:
    home = _home_override()
    return home / "data" if home else platformdirs.user_data_path(APP_NAME, appauthor=False)


def log_dir() -> Path:
    home = _home_override()
    return home / "logs" if home else platformdirs.user_log_path(APP_NAME, appauthor=False)


def models_dir() -> Path:
    """The user's own GGUF files and downloaded models."""
    return data_dir() / "models"


def settings_file() -> Path:
    return config_dir() / "settings.toml"


def log_file() -> Path:
    return log_dir() / "parley.log"


def resources_dir() -> Path:
    """Icons, earcons and desktop metadata, in a checkout or a frozen bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"
