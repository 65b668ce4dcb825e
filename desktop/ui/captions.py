"""Caption mode: both sides of the conversation in large, high-contrast text.

For hearing-aid users: the newest words are always in view, the text size is
theirs to choose, and the colours follow the system's dark or light theme
with the strongest contrast (pure white on black, or black on white).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

MIN_SIZE, MAX_SIZE = 14, 72
KEEP_LINES = 40  # messages kept in caption mode (the chat view keeps them all)


def dark_theme() -> bool:
    """True when the system asks for dark colours (or the palette is already dark)."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return app.palette().window().color().lightness() < 128


def palette_for(dark: bool) -> dict[str, str]:
    """The caption colours: maximum contrast, and the user's words set apart."""
    if dark:
        return {"background": "#000000", "parley": "#ffffff", "user": "#ffd60a"}
    return {"background": "#ffffff", "parley": "#000000", "user": "#0033a0"}


class CaptionView(QScrollArea):
    """Large captions: the conversation so far, scrolled so the newest words show,
    and what is being heard right now."""

    def __init__(self, size: int = 28) -> None:
        super().__init__()
        self.setObjectName("captions")
        self.setAccessibleName("Captions")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        page = QWidget()
        page.setObjectName("caption_page")
        self.history = QLabel()
        self.history.setObjectName("caption_history")
        self.live = QLabel()
        self.live.setObjectName("caption_live")
        self.live.setAccessibleName("What is being heard")
        for label in (self.history, self.live):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.addStretch(1)  # short conversations sit at the bottom, like subtitles
        layout.addWidget(self.history)
        layout.addWidget(self.live)
        self.setWidget(page)
        self.verticalScrollBar().rangeChanged.connect(
            lambda _low, high: self.verticalScrollBar().setValue(high)
        )
        self.lines: list[tuple[str, str]] = []  # (who, text); the last may be growing
        self._growing = False
        self._partial = ""
        self.size = size
        self.apply_theme()

    # -- content --------------------------------------------------------------------------

    def heard(self, text: str) -> None:
        """A partial caption of what the user is saying now."""
        self._partial = text
        self._render()

    def user_said(self, text: str) -> None:
        self._partial = ""
        self._growing = False
        self.lines.append(("user", text))
        self._render()

    def parley_writes(self, piece: str) -> None:
        if not self._growing:
            self.lines.append(("parley", ""))
            self._growing = True
        who, text = self.lines[-1]
        self.lines[-1] = (who, text + piece)
        self._render()

    def reply_done(self) -> None:
        self._growing = False

    # -- looks ----------------------------------------------------------------------------

    def set_size(self, size: int) -> int:
        self.size = max(MIN_SIZE, min(MAX_SIZE, size))
        self.apply_theme()
        return self.size

    def apply_theme(self) -> None:
        self.colors = palette_for(dark_theme())
        background = self.colors["background"]
        self.setStyleSheet(f"#captions, #caption_page {{ background: {background}; }}")
        for label, scale in ((self.history, 1.0), (self.live, 1.0)):
            font = QFont(label.font())
            font.setPointSize(round(self.size * scale))
            label.setFont(font)
        self._render()

    def _render(self) -> None:
        from html import escape

        def line(who: str, text: str) -> str:
            name = "You" if who == "user" else "Parley"
            color = self.colors[who]
            return f'<p style="color:{color}; margin:0 0 0.4em 0"><b>{name}:</b> {escape(text.strip())}</p>'

        self.history.setText("".join(line(w, t) for w, t in self.lines[-KEEP_LINES:]))
        self.live.setText(line("user", self._partial + " …") if self._partial else "")
