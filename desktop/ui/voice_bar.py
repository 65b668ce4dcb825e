"""The voice bar: microphone button, hands-free, level meter, state, Stop, captions.

The microphone button is push-to-talk: hold it (mouse or Space) while
speaking, or click it once to start and once more to stop.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.icons import microphone_icon

CLICK_S = 0.35  # a press shorter than this is a click: it latches listening on
METER_FLOOR_DB = -60.0

STATE_TEXT = {
    "starting": "Starting…",
    "listening": "Listening",
    "transcribing": "Transcribing…",
    "thinking": "Thinking…",
    "speaking": "Speaking",
    "idle": "Ready",
    "offline": "Engine stopped",
}


def meter_value(dbfs: float) -> int:
    """dBFS to 0..100 for the meter: -60 dB and below is empty, 0 dB is full."""
    return round(100 * min(1.0, max(0.0, (dbfs - METER_FLOOR_DB) / -METER_FLOOR_DB)))


class VoiceBar(QWidget):
    """Emits ``talk_started``/``talk_ended`` for push-to-talk and ``stop`` for Stop."""

    talk_started = Signal()
    talk_ended = Signal()
    stop = Signal()
    hands_free_changed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("voice_bar")
        self.mic = QPushButton()
        self.mic.setObjectName("mic")
        self.mic.setIcon(microphone_icon(QColor("#2f6fde")))
        self.mic.setIconSize(QSize(40, 40))
        self.mic.setMinimumSize(QSize(64, 64))
        self.mic.setCheckable(True)
        self.mic.setAccessibleName("Push to talk")
        self.mic.setToolTip("Hold to talk (or hold Space); click to start, click again to stop")
        self.mic.pressed.connect(self._pressed)
        self.mic.released.connect(self._released)
        self.hands_free = QCheckBox("&Hands-free")
        self.hands_free.setObjectName("hands_free")
        self.hands_free.setToolTip("Listen all the time; speak over Parley to interrupt it")
        self.hands_free.toggled.connect(self.hands_free_changed)
        self.meter = QProgressBar()
        self.meter.setObjectName("level")
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setMaximumHeight(10)
        self.meter.setAccessibleName("Microphone level")
        self.meter.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.state = QLabel()
        self.state.setObjectName("state")
        self.state.setAccessibleName("Assistant state")
        font = self.state.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.state.setFont(font)
        self.stop_button = QPushButton("&Stop")
        self.stop_button.setObjectName("stop")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self.caption = QLabel()
        self.caption.setObjectName("caption")
        self.caption.setAccessibleName("Live caption")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("font-style: italic;")

        middle = QVBoxLayout()
        middle.addWidget(self.state)
        middle.addWidget(self.meter)
        middle.addWidget(self.hands_free)
        row = QHBoxLayout()
        row.addWidget(self.mic)
        row.addLayout(middle, 1)
        row.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addLayout(row)
        layout.addWidget(self.caption)
        self._pressed_at: float | None = None
        self._latched = False
        self.set_state("starting")
        self.set_voice_available(False, "Starting the engine…")

    # -- what the engine says -------------------------------------------------------------

    def set_state(self, name: str) -> None:
        self.state.setText(STATE_TEXT.get(name, name.capitalize()))
        self.stop_button.setEnabled(name in ("thinking", "speaking", "transcribing"))
        if name != "listening" and self.mic.isChecked() and not self._talking:
            self.mic.setChecked(False)

    def set_level(self, dbfs: float) -> None:
        self.meter.setValue(meter_value(dbfs))

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)

    def set_voice_available(self, available: bool, why: str = "") -> None:
        self.mic.setEnabled(available)
        self.hands_free.setEnabled(available)
        self.meter.setEnabled(available)
        if not available:
            self.mic.setToolTip(why or "No microphone")
            self.meter.setValue(0)

    # -- push-to-talk ---------------------------------------------------------------------

    @property
    def _talking(self) -> bool:
        return self._pressed_at is not None or self._latched

    def begin_talk(self) -> None:
        """Space pressed, or the button pressed."""
        if not self.mic.isEnabled():
            return
        if self._latched:
            return  # the second click of click-to-talk: ends on release
        self._pressed_at = time.monotonic()
        self.mic.setChecked(True)
        self.talk_started.emit()

    def end_talk(self, allow_latch: bool = True) -> None:
        """Space released, or the button released."""
        if self._latched:
            self._latched = False
        elif self._pressed_at is None:
            return
        elif allow_latch and time.monotonic() - self._pressed_at < CLICK_S:
            self._pressed_at = None
            self._latched = True  # a click: keep listening until the next click
            self.mic.setChecked(True)
            return
        self._pressed_at = None
        self.mic.setChecked(False)
        self.talk_ended.emit()

    def _pressed(self) -> None:
        self.begin_talk()

    def _released(self) -> None:
        self.end_talk()
        self.mic.setChecked(self._talking)  # a checkable button toggles itself on release
