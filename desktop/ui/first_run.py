"""First run: no chat model yet. Say what to do instead of showing an empty window."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop import paths

INSTALL_COMMAND = "pip install 'parley[starter]'"


def starter_step() -> str:
    """How to get the starter models: pip in a checkout, the model manager when installed
    (an installed Parley has no Python to run pip with)."""
    if getattr(sys, "frozen", False):
        return (
            "<p><b>Either</b> download the small starter models (about 250 MB) with "
            "<i>Models…</i> (Ctrl+M), the only time Parley goes online, and press "
            "<i>Check again</i>.</p>"
        )
    return (
        "<p><b>Either</b> install the small starter models (about 250 MB) "
        f"and press <i>Check again</i>:</p><pre>  {INSTALL_COMMAND}</pre>"
    )


class FirstRunPage(QWidget):
    """Two ways forward: install the starter models, or pick a GGUF file."""

    add_model = Signal()
    check_again = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("first_run")
        title = QLabel("Parley needs a language model")
        title.setObjectName("first_run_title")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        self.reason = QLabel()
        self.reason.setObjectName("first_run_reason")
        self.reason.setWordWrap(True)
        steps = QLabel(
            "<p>Everything runs on this computer; nothing is sent anywhere.</p>"
            + starter_step()
            + "<p><b>Or</b> add a chat model you already have, as a GGUF file "
            "(an <i>instruct</i> or <i>chat</i> model; a base model cannot hold a "
            f"conversation). Files placed in <code>{paths.models_dir()}</code> "
            "are found too.</p>"
        )
        steps.setWordWrap(True)
        steps.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.add_button = QPushButton("&Add a GGUF file…")
        self.add_button.setObjectName("add_model")
        self.add_button.clicked.connect(self.add_model)
        self.check_button = QPushButton("&Check again")
        self.check_button.setObjectName("check_again")
        self.check_button.clicked.connect(self.check_again)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.addWidget(title)
        layout.addWidget(self.reason)
        layout.addWidget(steps)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def set_reason(self, message: str, hint: str = "") -> None:
        from desktop.ui.banner import sentence

        text = sentence(message)
        self.reason.setText(f"{text}. {sentence(hint)}." if hint else f"{text}.")
