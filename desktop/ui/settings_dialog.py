"""The settings dialog: models, audio devices, answers and performance.

It runs in the GUI process, so it only imports Qt and the settings module;
the models and audio devices it offers come from the caller (the registry and
the engine). Values are checked by ``Settings`` itself, so the dialog can never
return settings that would fail to load.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop import paths
from desktop.config import DEFAULT_SYSTEM_PROMPT, Settings
from desktop.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from desktop.library.registry import ModelEntry

# The engine applies these while running (the Tune and SetHandsFree messages).
LIVE_FIELDS = frozenset({"temperature", "max_tokens", "system_prompt", "hands_free"})
# Only the window uses these; the engine never sees them.
WINDOW_FIELDS = frozenset({"caption_mode", "caption_size", "keep_history"})
# Read only by `parley hub` (its own process): the window's engine need not restart.
HUB_FIELDS = frozenset({"satellites"})

STARTER_LABEL = "Starter model"
SYSTEM_DEFAULT_LABEL = "System default"
CONTEXT_MAX = 131_072
THREADS_MAX = 64
ERROR_STYLE = "color: #b00020; font-weight: bold;"
ECHO_TOOLTIP = (
    "On: you can talk over Parley to interrupt it.\n"
    "Off: half duplex, the microphone is muted while Parley speaks "
    "(use this if Parley keeps hearing itself)."
)


def needs_engine_restart(old: Settings, new: Settings) -> bool:
    """Whether ``new`` needs a fresh engine process.

    Temperature, max tokens, the system prompt and hands-free are applied live
    by the running engine, and caption settings only change the window; every
    other change (models, devices, threads, context size...) is read when the
    engine loads, so it only takes effect after a restart.
    """
    skip = LIVE_FIELDS | WINDOW_FIELDS | HUB_FIELDS
    return any(
        getattr(old, f.name) != getattr(new, f.name) for f in fields(Settings) if f.name not in skip
    )


def _model_label(value: str) -> str:
    """How a saved model path that the registry did not find is shown."""
    return f"{Path(value).name} (from settings)"


def _device_label(value: str, names: list[str]) -> str:
    """How a saved device name missing from the reported list is shown.

    The engine picks the first device whose name contains the saved text, so a
    partial name that still matches is not "not connected".
    """
    matches = [name for name in names if value.lower() in name.lower()]
    return f"{value} (matches {matches[0]})" if matches else f"{value} (not connected)"


def _select_or_add(combo: QComboBox, value: str, label: str) -> None:
    """Select the item holding ``value``, adding it as ``label`` if it is not there.

    Adding rather than falling back to the first item keeps a saved value that
    this computer does not know about (yet) unchanged when the user presses OK.
    """
    index = combo.findData(value)
    if index < 0:
        combo.addItem(label, value)
        index = combo.count() - 1
    combo.setCurrentIndex(index)


def _combo(name: str) -> QComboBox:
    """A combo that stays narrow however long a model or device name is."""
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(20)
    return combo


def _model_combo(name: str, entries: Iterable[ModelEntry]) -> QComboBox:
    """A combo with the starter model ("") first, then each model found."""
    combo = _combo(name)
    combo.addItem(STARTER_LABEL, "")
    for entry in entries:
        combo.addItem(f"{entry.name} ({entry.source})", str(entry.path))
        combo.setItemData(combo.count() - 1, str(entry.path), Qt.ItemDataRole.ToolTipRole)
    return combo


def _device_combo(name: str, devices: list[str]) -> QComboBox:
    """A combo with the system default ("") first, then each reported device."""
    combo = _combo(name)
    combo.addItem(SYSTEM_DEFAULT_LABEL, "")
    for device in dict.fromkeys(devices):
        combo.addItem(device, device)
        combo.setItemData(combo.count() - 1, device, Qt.ItemDataRole.ToolTipRole)
    return combo


def _spin(name: str, low: int, high: int, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setObjectName(name)
    box.setRange(low, high)
    box.setSingleStep(step)
    return box


def _check(name: str, text: str) -> QCheckBox:
    box = QCheckBox(text)
    box.setObjectName(name)
    return box


def _lines(name: str, placeholder: str, tip: str) -> QPlainTextEdit:
    """A short box of one entry a line (devices, MCP servers); Tab moves on."""
    box = QPlainTextEdit()
    box.setObjectName(name)
    box.setTabChangesFocus(True)
    box.setFixedHeight(70)
    box.setPlaceholderText(placeholder)
    box.setToolTip(tip)
    return box


def _side_button(text: str) -> QPushButton:
    """A button that never steals Enter from OK."""
    button = QPushButton(text)
    button.setAutoDefault(False)
    return button


def _no_devices_note(inputs: list[str], outputs: list[str]) -> str:
    """Explains why a device list only offers the system default."""
    if not inputs and not outputs:
        missing = "No audio devices were"
    elif not inputs:
        missing = "No input devices were"
    elif not outputs:
        missing = "No output devices were"
    else:
        return ""
    return f"{missing} reported by the engine, so Parley uses the system default."


class SettingsDialog(QDialog):
    """Edits a copy of the settings; ``result_settings()`` holds the accepted ones."""

    def __init__(
        self,
        settings: Settings,
        models: list[ModelEntry],
        inputs: list[str],
        outputs: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Parley settings")
        self._settings = settings
        self._result: Settings | None = None
        self._inputs = list(inputs)
        self._outputs = list(outputs)
        self._labels: list[QLabel] = []
        self._order: list[QWidget] = []

        sections = QWidget()
        column = QVBoxLayout(sections)
        column.addWidget(self._models_section(models))
        column.addWidget(self._audio_section())
        column.addWidget(self._answers_section())
        column.addWidget(self._performance_section())
        column.addWidget(self._remote_section())
        column.addWidget(self._devices_section())
        column.addWidget(self._tools_section())
        column.addStretch()
        scroll = QScrollArea()
        scroll.setWidget(sections)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setAccessibleName("Settings error")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()

        self.buttons = self._button_box()
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._set_tab_order()
        self._show(settings)
        self.resize(560, 760)

    # -- public ---------------------------------------------------------------------------

    def result_settings(self) -> Settings:
        """The settings the user accepted; only valid after the dialog was accepted."""
        if self._result is None:
            raise RuntimeError("result_settings() is only valid after the dialog was accepted")
        return self._result

    def accept(self) -> None:
        """Close only with valid settings; otherwise explain what is wrong and stay open."""
        try:
            new = self._settings.replace(**self._values())
        except ConfigError as exc:
            self.error.setText(exc.one_line())
            self.error.show()
            return
        self.error.hide()
        self._result = new
        super().accept()

    def restore_defaults(self) -> None:
        """Show the default values; nothing is saved until OK."""
        self.error.hide()
        self._show(Settings())

    def add_model_file(self) -> None:
        """Let the user pick a GGUF file that is not in the models folder."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a chat model", str(paths.models_dir()), "GGUF models (*.gguf)"
        )
        if path:
            _select_or_add(self.llm_model, path, f"{Path(path).stem} (chosen file)")

    # -- sections -------------------------------------------------------------------------

    def _models_section(self, models: list[ModelEntry]) -> QGroupBox:
        def of_role(role: str) -> list[ModelEntry]:
            return [entry for entry in models if entry.role == role]

        self.llm_model = _model_combo("llm_model", of_role("llm"))
        self.add_model = _side_button("&Add a GGUF file…")
        self.add_model.setObjectName("add_model")
        self.add_model.setToolTip("Use a chat model file from anywhere on this computer")
        self.add_model.clicked.connect(self.add_model_file)
        chat = QHBoxLayout()
        chat.addWidget(self.llm_model, 1)
        chat.addWidget(self.add_model)
        self.stt_model = _model_combo("stt_model", of_role("stt"))
        self.tts_voice = _model_combo("tts_voice", of_role("tts"))

        form = QFormLayout()
        self._row(form, "Chat mode&l:", self.llm_model, chat)
        self._order.append(self.add_model)
        self._row(form, "Speech &recognition:", self.stt_model)
        self._row(form, "&Voice:", self.tts_voice)
        return self._group("Models", form)

    def _audio_section(self) -> QGroupBox:
        self.input_device = _device_combo("input_device", self._inputs)
        self.output_device = _device_combo("output_device", self._outputs)
        self.hands_free = _check(
            "hands_free", "&Hands-free: listen without holding the talk button"
        )
        self.echo_cancellation = _check(
            "echo_cancellation", "&Echo cancellation: interrupt Parley by speaking"
        )
        self.echo_cancellation.setToolTip(ECHO_TOOLTIP)
        self.echo_cancellation.setAccessibleDescription(ECHO_TOOLTIP)
        self.turn_end_by_model = _check(
            "turn_end_by_model", "&Wait when a sentence sounds unfinished"
        )
        self.turn_end_by_model.setToolTip(
            "The chat model reads your words at each pause: after 'What is the capital' "
            "Parley waits longer for the rest. Off: whisper's punctuation decides."
        )

        form = QFormLayout()
        self._row(form, "&Input device:", self.input_device)
        self._row(form, "O&utput device:", self.output_device)
        note = _no_devices_note(self._inputs, self._outputs)
        if note:
            self.device_note = QLabel(note)
            self.device_note.setObjectName("device_note")
            self.device_note.setWordWrap(True)
            form.addRow(self.device_note)
        self._row(form, None, self.hands_free)
        self._row(form, None, self.echo_cancellation)
        self._row(form, None, self.turn_end_by_model)
        return self._group("Voice && audio", form)

    def _answers_section(self) -> QGroupBox:
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("temperature")
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setToolTip("Lower is more predictable, higher is more varied")
        # Any length below the context size is valid; Settings checks the pair on OK.
        self.max_tokens = _spin("max_tokens", 1, 1_048_575)
        self.max_tokens.setToolTip("The longest answer, in tokens; must be below the context size")
        self.context_size = _spin("context_size", 256, CONTEXT_MAX, 256)
        self.context_size.setToolTip("How much of the conversation the chat model remembers")
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setObjectName("system_prompt")
        self.system_prompt.setTabChangesFocus(True)  # Tab must move on, not type a tab
        self.system_prompt.setFixedHeight(100)
        self.reset_prompt = _side_button("Reset prompt to &default")
        self.reset_prompt.setObjectName("reset_prompt")
        self.reset_prompt.clicked.connect(
            lambda: self.system_prompt.setPlainText(DEFAULT_SYSTEM_PROMPT)
        )
        prompt = QVBoxLayout()
        prompt.addWidget(self.system_prompt)
        prompt.addWidget(self.reset_prompt)

        self.keep_history = _check(
            "keep_history", "Save c&onversations to the history on this device"
        )
        self.keep_history.setToolTip(
            "Each turn is saved as it finishes (View > Conversations lists them); "
            "off: nothing new is written"
        )
        form = QFormLayout()
        self._row(form, "&Temperature:", self.temperature)
        self._row(form, "&Max tokens per answer:", self.max_tokens)
        self._row(form, "Conte&xt size:", self.context_size)
        self._row(form, "S&ystem prompt:", self.system_prompt, prompt)
        self._order.append(self.reset_prompt)
        self._row(form, None, self.keep_history)
        return self._group("Answers", form)

    def _performance_section(self) -> QGroupBox:
        self.threads = _spin("threads", 0, THREADS_MAX)
        self.threads.setSpecialValueText("Automatic")
        self.threads.setToolTip("CPU threads for the models; Automatic uses every core")
        self.stt_short_window = _check(
            "stt_short_window", "&Fast speech recognition (10-second window)"
        )
        self.stt_short_window.setToolTip(
            "About four times faster; turn off if long sentences are cut short"
        )
        form = QFormLayout()
        self._row(form, "C&PU threads:", self.threads)
        self._row(form, None, self.stt_short_window)
        return self._group("Performance", form)

    def _remote_section(self) -> QGroupBox:
        """An OpenAI-compatible server on a bigger machine; speech stays on this one."""
        self.remote_url = QLineEdit()
        self.remote_url.setObjectName("remote_url")
        self.remote_url.setPlaceholderText("e.g. http://big-pc.local:8080 (empty: this device)")
        self.remote_url.setToolTip(
            "llama.cpp's llama-server, Ollama, vLLM or LM Studio; if it fails, the local "
            "model finishes the answer. Only text is sent, never audio."
        )
        self.remote_model = QLineEdit()
        self.remote_model.setObjectName("remote_model")
        self.remote_model.setPlaceholderText("the server's default")
        self.remote_api_key = QLineEdit()
        self.remote_api_key.setObjectName("remote_api_key")
        self.remote_api_key.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        self._row(form, "&Bigger machine's server URL:", self.remote_url)
        self._row(form, "Remote model &name:", self.remote_model)
        self._row(form, "API &key:", self.remote_api_key)
        return self._group("Bigger machine (optional)", form)

    def _devices_section(self) -> QGroupBox:
        """Glasses, hearing-aid streamers and other Wyoming satellites for `parley hub`."""
        self.satellites = _lines(
            "satellites",
            "one a line, e.g. tcp://glasses.local:10700",
            "parley hub connects to these devices (wyoming-satellite), listens and "
            "answers through them; only they may be reached over the network",
        )
        form = QFormLayout()
        self._row(form, "&Glasses and other satellites:", self.satellites)
        return self._group("Devices", form)

    def _tools_section(self) -> QGroupBox:
        """Intents answered on the device, and MCP servers whose tools a model may use."""
        self.local_intents = _check(
            "local_intents", "&Quick answers on this device: the time, timers, reminders"
        )
        self.mcp_servers = _lines(
            "mcp_servers",
            "one command a line, e.g. python -m my_mcp_server",
            "MCP servers started over stdio; a chat model that takes tools may ask to use "
            "theirs, and each use needs your yes. They run outside Parley's offline guard.",
        )
        self.forget_approvals = QPushButton("Forget “always allow” answers")
        self.forget_approvals.setObjectName("forget_approvals")
        self.forget_approvals.setAutoDefault(False)  # Enter still means OK
        self.forget_approvals.clicked.connect(lambda: self._set_always_allowed(()))
        form = QFormLayout()
        self._row(form, None, self.local_intents)
        self._row(form, "M&CP servers:", self.mcp_servers)
        self._row(form, None, self.forget_approvals)
        return self._group("Tools", form)

    def _set_always_allowed(self, allowed: tuple[str, ...]) -> None:
        self._always_allowed = allowed
        self.forget_approvals.setEnabled(bool(allowed))
        self.forget_approvals.setToolTip(
            "Allowed without asking: " + ", ".join(allowed) if allowed else "Nothing is"
        )

    def _button_box(self) -> QDialogButtonBox:
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        self.ok_button = box.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setDefault(True)
        self.restore_button = box.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        self.restore_button.setText("Re&store defaults")
        self.restore_button.setAutoDefault(False)
        self.restore_button.clicked.connect(self.restore_defaults)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        return box

    # -- helpers --------------------------------------------------------------------------

    def _row(
        self, form: QFormLayout, text: str | None, widget: QWidget, layout: QLayout | None = None
    ) -> None:
        """Add a form row whose label is the widget's buddy (Alt+letter focuses it)."""
        self._order.append(widget)
        field = layout if layout is not None else widget
        if text is None:
            form.addRow(field)
            return
        label = QLabel(text)
        label.setBuddy(widget)
        self._labels.append(label)
        form.addRow(label, field)

    @staticmethod
    def _group(title: str, form: QFormLayout) -> QGroupBox:
        group = QGroupBox(title)
        group.setLayout(form)
        return group

    def _set_tab_order(self) -> None:
        """Tab walks the fields top to bottom; the button box, made last, orders its own."""
        for first, second in zip(self._order, self._order[1:], strict=False):
            QWidget.setTabOrder(first, second)

    def _show(self, settings: Settings) -> None:
        """Put ``settings`` into the widgets."""
        for combo in (self.llm_model, self.stt_model, self.tts_voice):
            value = getattr(settings, combo.objectName())
            _select_or_add(combo, value, _model_label(value))
        _select_or_add(
            self.input_device,
            settings.input_device,
            _device_label(settings.input_device, self._inputs),
        )
        _select_or_add(
            self.output_device,
            settings.output_device,
            _device_label(settings.output_device, self._outputs),
        )
        self.hands_free.setChecked(settings.hands_free)
        self.echo_cancellation.setChecked(settings.echo_cancellation)
        self.turn_end_by_model.setChecked(settings.turn_end_by_model)
        self.temperature.setValue(settings.temperature)
        # A saved value above the usual range is kept rather than silently clamped.
        self.context_size.setMaximum(max(CONTEXT_MAX, settings.context_size))
        self.context_size.setValue(settings.context_size)
        self.max_tokens.setValue(settings.max_tokens)
        self.system_prompt.setPlainText(settings.system_prompt)
        self.keep_history.setChecked(settings.keep_history)
        self.threads.setMaximum(max(THREADS_MAX, settings.threads))
        self.threads.setValue(settings.threads)
        self.stt_short_window.setChecked(settings.stt_short_window)
        self.remote_url.setText(settings.remote_url)
        self.remote_model.setText(settings.remote_model)
        self.remote_api_key.setText(settings.remote_api_key)
        self.satellites.setPlainText("\n".join(settings.satellites))
        self.local_intents.setChecked(settings.local_intents)
        self.mcp_servers.setPlainText("\n".join(settings.mcp_servers))
        self._set_always_allowed(settings.mcp_always_allow)

    def _values(self) -> dict[str, object]:
        """The widgets' values, as ``Settings`` field names."""
        return {
            "llm_model": self.llm_model.currentData(),
            "stt_model": self.stt_model.currentData(),
            "tts_voice": self.tts_voice.currentData(),
            "input_device": self.input_device.currentData(),
            "output_device": self.output_device.currentData(),
            "hands_free": self.hands_free.isChecked(),
            "echo_cancellation": self.echo_cancellation.isChecked(),
            "turn_end_by_model": self.turn_end_by_model.isChecked(),
            "temperature": self.temperature.value(),
            "max_tokens": self.max_tokens.value(),
            "context_size": self.context_size.value(),
            "system_prompt": self.system_prompt.toPlainText(),
            "keep_history": self.keep_history.isChecked(),
            "threads": self.threads.value(),
            "stt_short_window": self.stt_short_window.isChecked(),
            "remote_url": self.remote_url.text().strip(),
            "remote_model": self.remote_model.text().strip(),
            "remote_api_key": self.remote_api_key.text().strip(),
            "satellites": tuple(
                line.strip() for line in self.satellites.toPlainText().splitlines() if line.strip()
            ),
            "local_intents": self.local_intents.isChecked(),
            "mcp_servers": tuple(
                line.strip() for line in self.mcp_servers.toPlainText().splitlines() if line.strip()
            ),
            "mcp_always_allow": self._always_allowed,
        }
