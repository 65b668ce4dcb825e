"""The engine host seen from Qt: its events arrive as a signal on the GUI thread."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from desktop.config import Settings
from desktop.host.messages import Command
from desktop.host.supervisor import EngineHost


class EngineBridge(QObject):
    """Owns the engine process. ``event`` fires on the GUI thread (queued from the
    host's reader thread), so slots may touch widgets directly."""

    event = Signal(object)

    def __init__(self, settings: Settings, debug: bool = False) -> None:
        super().__init__()
        self.host = EngineHost(settings, self.event.emit, debug=debug)

    def start(self) -> None:
        """Start off the GUI thread: spawning a process costs tens of milliseconds."""
        threading.Thread(target=self.host.start, name="parley-start", daemon=True).start()

    def send(self, command: Command) -> None:
        self.host.send(command)

    def restart(self, settings: Settings | None = None) -> None:
        """Restart off the GUI thread: the old engine may take seconds to close."""
        threading.Thread(
            target=self.host.restart, args=(settings,), name="parley-restart", daemon=True
        ).start()

    def stop(self) -> None:
        self.host.stop()
