"""``parley gui``: the desktop app.

The window appears before any model loads (the engine loads in its own
process), so the user sees Parley at once and watches it get ready.
"""

from __future__ import annotations

import json
import os
import sys
import time

from desktop.config import Settings, load_settings
from desktop.errors import ConfigError, ParleyError

STARTUP_PROBE = "PARLEY_STARTUP_PROBE"  # bench/startup.py: print milestones, then quit


def check_display() -> None:
    """Qt aborts the process without a display; say so in one line instead."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        raise ParleyError(
            "no graphical display was found",
            "run Parley from your desktop session, or use `parley chat` in a terminal",
        )


def _probe(milestone: str) -> None:
    print(json.dumps({"milestone": milestone, "time": time.time()}), flush=True)


def run_gui(debug: bool = False) -> int:
    check_display()
    from PySide6.QtWidgets import QApplication

    from desktop.ui.icons import app_icon
    from desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Parley")
    app.setApplicationDisplayName("Parley")
    app.setDesktopFileName("parley")
    app.setWindowIcon(app_icon())
    settings_error = None
    try:
        settings = load_settings()
    except ConfigError as exc:
        settings, settings_error = Settings(), exc
    window = MainWindow(settings, debug=debug)
    if settings_error is not None:
        window.banner.show_error(
            settings_error.message,
            settings_error.hint or "Parley runs on the default settings for now",
        )
    if os.environ.get(STARTUP_PROBE):
        window.shown.connect(lambda: _probe("window_shown"))
        window.ready.connect(lambda: (_probe("ready"), window.close()))
    window.show()
    window.start_engine()
    return app.exec()
