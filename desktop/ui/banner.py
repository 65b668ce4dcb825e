"""A dismissible banner for errors: the one-line message, its hint, and the log."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout


def sentence(text: str) -> str:
    """Capitalise a message's first letter, unless it starts with a file name
    ("model.gguf is truncated" must not become "Model.gguf")."""
    first = text.split(" ", 1)[0]
    if not text or any(mark in first for mark in "./\\_"):
        return text
    return text[:1].upper() + text[1:]


class Banner(QFrame):
    """Shows the latest error; ``details`` asks for the log folder to be opened."""

    details = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("banner")
        self.setAccessibleName("Error")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#banner { background: #fde8e8; border: 1px solid #c0392b; border-radius: 4px; }"
            "#banner QLabel { color: #5c1010; }"
        )
        self.message = QLabel()
        self.message.setObjectName("banner_message")
        self.message.setWordWrap(True)
        font = self.message.font()
        font.setBold(True)
        self.message.setFont(font)
        self.hint = QLabel()
        self.hint.setObjectName("banner_hint")
        self.hint.setWordWrap(True)
        text = QVBoxLayout()
        text.addWidget(self.message)
        text.addWidget(self.hint)
        self.details_button = QPushButton("&Details…")
        self.details_button.setToolTip("Open the folder with Parley's log files")
        self.details_button.clicked.connect(self.details)
        self.close_button = QPushButton("Dismiss")
        self.close_button.setObjectName("banner_close")
        self.close_button.setAccessibleName("Dismiss the error")
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.addLayout(text, 1)
        layout.addWidget(self.details_button)
        layout.addWidget(self.close_button)
        self.hide()

    def show_error(self, message: str, hint: str = "") -> None:
        self.message.setText(sentence(message))
        self.hint.setText(sentence(hint))
        self.hint.setVisible(bool(hint))
        self.show()
