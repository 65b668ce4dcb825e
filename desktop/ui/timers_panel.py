"""Timers and reminders set by voice, with the time left and a Cancel button.

It reads the same timers file the engine rings from (engine/skills/timers.py: no
models, no audio), once a second while any are pending, so a timer set in
``parley chat`` shows here too. Cancelling marks it in the file; the engine's
clock then never rings it.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.engine.skills.spoken_time import say_duration
from desktop.engine.skills.timers import Timer, TimerStore
from desktop.errors import ParleyError

REFRESH_MS = 1000


def time_left(timer: Timer, now: float) -> str:
    """'4:05' left on a timer; 'at 18:30' for a reminder."""
    if timer.kind == "reminder":
        return time.strftime("at %H:%M", time.localtime(timer.due))
    seconds = max(0, round(timer.left(now)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TimersPanel(QWidget):
    """``changed(count)``: how many are pending, so the window can show or hide the dock;
    ``failed``: a one-line message for the banner."""

    changed = Signal(int)
    failed = Signal(str)

    def __init__(self, store: TimerStore | None) -> None:
        super().__init__()
        self.store = store
        self._rows = QVBoxLayout()
        self._rows.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel("No timers. Say “set a timer for ten minutes”.")
        self.empty.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self._rows)
        layout.addWidget(self.empty)
        layout.addStretch(1)
        self._shown: list[int] = []
        self._labels: dict[int, QLabel] = {}
        self._ticker = QTimer(self, interval=REFRESH_MS)
        self._ticker.timeout.connect(self.refresh)
        self._ticker.start()
        self.refresh()

    @property
    def count(self) -> int:
        """Timers and reminders pending, as shown."""
        return len(self._shown)

    def refresh(self) -> None:
        if self.store is None:
            return
        try:
            timers = [t for t in self.store.pending() if t.device == ""]
        except ParleyError as exc:
            self._ticker.stop()
            self.failed.emit(exc.one_line())
            return
        now = time.time()
        ids = [t.id for t in timers]
        if ids != self._shown:
            self._rebuild(timers)
        for timer in timers:
            label = self._labels[timer.id]
            label.setText(f"{timer.title}  {time_left(timer, now)}")
            label.setAccessibleName(
                f"{timer.title}, {say_duration(timer.left(now))} left"
                if timer.kind == "timer"
                else label.text()
            )

    def _rebuild(self, timers: list[Timer]) -> None:
        while self._rows.count():
            row = self._rows.takeAt(0).widget()
            if row is not None:
                row.deleteLater()
        self._labels.clear()
        for timer in timers:
            row = QWidget()
            row.setObjectName(f"timer_{timer.id}")
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            label = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            cancel = QPushButton("Cancel")
            cancel.setAccessibleName(f"Cancel {timer.title}")
            cancel.clicked.connect(lambda _=False, t=timer.id: self.cancel(t))
            line.addWidget(label, 1)
            line.addWidget(cancel)
            self._rows.addWidget(row)
            self._labels[timer.id] = label
        self._shown = [t.id for t in timers]
        self.empty.setVisible(not timers)
        self.changed.emit(len(timers))

    def cancel(self, timer_id: int) -> None:
        if self.store is None:
            return
        try:
            self.store.cancel(timer_id)
        except ParleyError as exc:
            self.failed.emit(exc.one_line())
        self.refresh()
