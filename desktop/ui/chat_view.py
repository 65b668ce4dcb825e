"""The conversation: one bubble per message, the reply growing as it streams.

Reasoning (a thinking model's <think> part) is folded under a toggle, and a
quiet line under each reply says how long the stages took.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SELECTABLE = (
    Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
)


def _text_label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(SELECTABLE)
    if name:
        label.setObjectName(name)
    return label


def timing_line(timings: dict[str, float | None]) -> str:
    """'transcribed in 96 ms · first word 177 ms · first clause 369 ms · 48 tokens/s'
    (each from the endpoint; what the user heard comes separately: Bubble.note_heard)."""
    parts = []
    for key, words in (
        ("stt_ms", "transcribed in"),
        ("intent_ms", "answered on this device in"),
        ("llm_first_token_ms", "first word"),
        ("first_audio_ms", "first clause"),
    ):
        value = timings.get(key)
        if value is not None:
            parts.append(f"{words} {value:.0f} ms")
    rate = timings.get("tokens_per_s")
    if rate:
        parts.append(f"{rate:.0f} tokens/s")
    return " · ".join(parts)


class Bubble(QFrame):
    """One message. A reply also has a folded reasoning part and a timing line."""

    def __init__(self, who: str, text: str = "") -> None:
        super().__init__()
        self.who = who
        self.setObjectName("user_bubble" if who == "user" else "reply_bubble")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        header = QLabel("You" if who == "user" else "Parley")
        header.setObjectName("bubble_header")
        font = header.font()
        font.setBold(True)
        header.setFont(font)
        layout.addWidget(header)
        self.reasoning_toggle = QToolButton()
        self.reasoning_toggle.setText("Show reasoning")
        self.reasoning_toggle.setCheckable(True)
        self.reasoning_toggle.setAccessibleName("Show the model's reasoning")
        self.reasoning_toggle.toggled.connect(self._fold)
        self.reasoning_toggle.hide()
        self.reasoning = _text_label(name="reasoning")
        self.reasoning.setAccessibleName("Reasoning")
        self.reasoning.setStyleSheet("color: palette(mid); font-style: italic;")
        self.reasoning.hide()
        layout.addWidget(self.reasoning_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.reasoning)
        self.body = _text_label(text, name="body")
        self.body.setAccessibleName(
            {"user": "Your message", "alarm": "A timer rang"}.get(who, "Parley's reply")
        )
        layout.addWidget(self.body)
        self.footer = QLabel()
        self.footer.setObjectName("timings")
        self.footer.setWordWrap(True)  # a long timing line must not widen the whole chat
        self.footer.setStyleSheet("color: palette(mid); font-size: small;")
        self.footer.hide()
        layout.addWidget(self.footer)
        self._text = text
        self._thought = ""
        self._tools: list[str] = []  # "start_timer(seconds=90) → Timer set …", folded too
        self._timings = ""  # the turn's stages, from the endpoint
        self._heard = ""  # when the user heard the reply: first in the footer

    @property
    def text(self) -> str:
        return self._text

    def add(self, piece: str, reasoning: bool = False) -> None:
        if reasoning:
            self._thought += piece
            self._show_folded()
        else:
            self._text += piece
            self.body.setText(self._text.lstrip())

    def add_tool(self, line: str) -> None:
        """A tool the model called and what it answered: folded with the reasoning."""
        self._tools.append(line)
        self._show_folded()

    def _show_folded(self) -> None:
        parts = [self._thought.strip()] + [f"Tool: {line}" for line in self._tools]
        self.reasoning.setText("\n\n".join(part for part in parts if part))
        self.reasoning_toggle.setText(self._fold_label(self.reasoning.isVisible()))
        self.reasoning_toggle.show()

    def _fold_label(self, shown: bool) -> str:
        what = " and ".join(
            name
            for name, there in (("reasoning", self._thought.strip()), ("tools used", self._tools))
            if there
        )
        return f"{'Hide' if shown else 'Show'} {what}"

    def finish(self, timings: dict[str, float | None], note: str = "") -> None:
        self._timings = " · ".join(part for part in (note, timing_line(timings)) if part)
        self._show_footer()

    def note_heard(self, voice_to_voice_ms: float) -> None:
        """The reply's first sound left the speaker this long after the user stopped."""
        self._heard = f"you heard it {voice_to_voice_ms:.0f} ms after you stopped"
        self._show_footer()

    def _show_footer(self) -> None:
        line = " · ".join(part for part in (self._heard, self._timings) if part)
        self.footer.setText(line)
        self.footer.setVisible(bool(line))

    def _fold(self, shown: bool) -> None:
        self.reasoning.setVisible(shown)
        self.reasoning_toggle.setText(self._fold_label(shown))


class ChatView(QScrollArea):
    """The whole conversation, scrolled to the newest message as it grows."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("chat")
        self.setAccessibleName("Conversation")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setStyleSheet(
            "#user_bubble { background: palette(alternate-base); border: 1px solid palette(mid);"
            " border-radius: 8px; margin-left: 60px; }"
            "#reply_bubble { background: palette(base); border: 1px solid palette(mid);"
            " border-radius: 8px; margin-right: 60px; }"
        )
        inner = QWidget()
        self._layout = QVBoxLayout(inner)
        self._layout.setSpacing(8)
        self._layout.addStretch(1)
        self.placeholder = QLabel(
            "Ask anything. Hold Space or the microphone button to talk, or type below.\n"
            "Everything stays on this computer."
        )
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("color: palette(mid); font-size: 14pt;")
        self._layout.addWidget(self.placeholder)
        self._below = QWidget()  # centres the placeholder; gone once messages fill in
        self._below.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._layout.addWidget(self._below)
        self.setWidget(inner)
        self.bubbles: list[Bubble] = []
        self.reply: Bubble | None = None  # the reply being written
        self.verticalScrollBar().rangeChanged.connect(self._follow)
        self._at_bottom = True
        self.verticalScrollBar().valueChanged.connect(self._note_position)

    def add_user(self, text: str) -> Bubble:
        self.reply = None
        return self._append(Bubble("user", text))

    def add_token(self, piece: str, reasoning: bool = False) -> None:
        if self.reply is None:
            self.reply = self._append(Bubble("parley"))
        self.reply.add(piece, reasoning)

    def add_tool(self, line: str) -> None:
        if self.reply is None:
            self.reply = self._append(Bubble("parley"))
        self.reply.add_tool(line)

    def finish_reply(self, timings: dict[str, float | None], note: str = "") -> None:
        if self.reply is None and note:
            self.reply = self._append(Bubble("parley"))
        if self.reply is not None:
            self.reply.finish(timings, note)
        self.reply = None

    def note_heard(self, voice_to_voice_ms: float) -> None:
        """On the reply being spoken (the first sound often plays after it is written)."""
        replies = [b for b in self.bubbles if b.who == "parley"]
        if replies:
            replies[-1].note_heard(voice_to_voice_ms)

    def add_alarm(self, text: str) -> Bubble:
        """A timer or reminder rang: shown apart from the reply being written."""
        return self._append(Bubble("alarm", f"⏰ {text}"))

    def clear(self) -> None:
        for bubble in self.bubbles:
            bubble.deleteLater()
        self.bubbles.clear()
        self.reply = None
        self.placeholder.show()
        self._below.show()

    def _append(self, bubble: Bubble) -> Bubble:
        self.placeholder.hide()
        self._below.hide()
        self._layout.insertWidget(self._layout.count() - 1, bubble)
        self.bubbles.append(bubble)
        self._at_bottom = True
        return bubble

    def _note_position(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._at_bottom = value >= bar.maximum() - 4

    def _follow(self, _minimum: int, maximum: int) -> None:
        """Keep the newest words in view, unless the user scrolled up to read."""
        if self._at_bottom:
            QTimer.singleShot(0, lambda: self.verticalScrollBar().setValue(maximum))
