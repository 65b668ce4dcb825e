"""The settings dialog: shows saved values, returns only valid settings, keyboard reachable."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QApplication,
    QDialog,
    QFileDialog,
    QLabel,
    QWidget,
)

from desktop.config import DEFAULT_SYSTEM_PROMPT, Settings  # noqa: E402
from desktop.library.registry import ModelEntry, all_models  # noqa: E402
from desktop.ui.settings_dialog import SettingsDialog, needs_engine_restart  # noqa: E402

INPUTS = ["Built-in Microphone", "USB Headset Mic"]
OUTPUTS = ["Built-in Speakers", "USB Headset"]
# Top to bottom, as a keyboard user meets them.
FIELDS = [
    "llm_model",
    "add_model",
    "stt_model",
    "tts_voice",
    "input_device",
    "output_device",
    "hands_free",
    "echo_cancellation",
    "turn_end_by_model",
    "temperature",
    "max_tokens",
    "context_size",
    "system_prompt",
    "reset_prompt",
    "threads",
    "stt_short_window",
    "satellites",
    "local_intents",
    "mcp_servers",  # "Forget always allow" is disabled: nothing was allowed yet
]


@pytest.fixture
def models(tmp_path: Path) -> list[ModelEntry]:
    return [
        ModelEntry("llm", "qwen", tmp_path / "qwen.gguf", "models folder"),
        ModelEntry("llm", "gemma", tmp_path / "gemma.gguf", "models folder"),
        ModelEntry("stt", "small.en", tmp_path / "small.en", "models folder"),
        ModelEntry("tts", "amy", tmp_path / "amy.onnx", "models folder"),
    ]


@pytest.fixture
def open_dialog(qtbot, models):
    def make(settings: Settings, inputs=INPUTS, outputs=OUTPUTS, entries=None) -> SettingsDialog:
        dialog = SettingsDialog(settings, models if entries is None else entries, inputs, outputs)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    return make


def click_ok(qtbot, dialog: SettingsDialog) -> None:
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def accepted(dialog: SettingsDialog) -> Settings:
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert not dialog.isVisible()
    return dialog.result_settings()


def custom(models: list[ModelEntry]) -> Settings:
    return Settings(
        llm_model=str(models[1].path),
        stt_model=str(models[2].path),
        tts_voice=str(models[3].path),
        threads=2,
        context_size=4096,
        max_tokens=120,
        temperature=0.3,
        system_prompt="Answer like a pirate.",
        stt_short_window=False,
        input_device="USB Headset Mic",
        output_device="Built-in Speakers",
        echo_cancellation=False,
        hands_free=True,
        caption_mode=True,
        caption_size=40,
    )


def test_shows_saved_values_and_ok_returns_them_unchanged(qtbot, open_dialog, models):
    saved = custom(models)
    dialog = open_dialog(saved)

    assert dialog.windowTitle() == "Parley settings"
    assert dialog.llm_model.currentText() == "gemma (models folder)"
    assert dialog.stt_model.currentText() == "small.en (models folder)"
    assert dialog.tts_voice.currentText() == "amy (models folder)"
    assert dialog.input_device.currentText() == "USB Headset Mic"
    assert dialog.output_device.currentText() == "Built-in Speakers"
    assert dialog.hands_free.isChecked()
    assert not dialog.echo_cancellation.isChecked()
    assert dialog.temperature.value() == pytest.approx(0.3)
    assert dialog.max_tokens.value() == 120
    assert dialog.context_size.value() == 4096
    assert dialog.system_prompt.toPlainText() == "Answer like a pirate."
    assert dialog.threads.value() == 2
    assert not dialog.stt_short_window.isChecked()
    assert dialog.error.isHidden()

    click_ok(qtbot, dialog)
    assert accepted(dialog) == saved


def test_defaults_show_starter_system_default_and_automatic(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    assert dialog.llm_model.currentText() == "Starter model"
    assert dialog.llm_model.currentData() == ""
    assert dialog.input_device.currentText() == "System default"
    assert dialog.threads.text() == "Automatic"
    click_ok(qtbot, dialog)
    assert accepted(dialog) == Settings()


def test_cancel_gives_no_settings(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    dialog.temperature.setValue(1.5)
    dialog.reject()
    assert dialog.result() == QDialog.DialogCode.Rejected
    with pytest.raises(RuntimeError):
        dialog.result_settings()


def test_changed_widgets_give_changed_settings(qtbot, open_dialog, models):
    old = Settings()
    dialog = open_dialog(old)
    dialog.llm_model.setCurrentIndex(dialog.llm_model.findData(str(models[0].path)))
    dialog.output_device.setCurrentIndex(dialog.output_device.findData("USB Headset"))
    dialog.temperature.setValue(1.2)
    dialog.max_tokens.setValue(64)
    dialog.context_size.setValue(8192)
    dialog.system_prompt.setPlainText("Be terse.")
    dialog.threads.setValue(4)
    dialog.hands_free.setChecked(True)
    dialog.echo_cancellation.setChecked(False)
    dialog.stt_short_window.setChecked(False)
    click_ok(qtbot, dialog)

    new = accepted(dialog)
    assert new == old.replace(
        llm_model=str(models[0].path),
        output_device="USB Headset",
        temperature=1.2,
        max_tokens=64,
        context_size=8192,
        system_prompt="Be terse.",
        threads=4,
        hands_free=True,
        echo_cancellation=False,
        stt_short_window=False,
    )
    assert needs_engine_restart(old, new)


def test_live_changes_need_no_engine_restart(qtbot, open_dialog):
    old = Settings()
    dialog = open_dialog(old)
    dialog.temperature.setValue(0.9)
    dialog.max_tokens.setValue(300)
    dialog.system_prompt.setPlainText("Be kind.")
    dialog.hands_free.setChecked(True)
    click_ok(qtbot, dialog)

    new = accepted(dialog)
    assert new != old
    assert not needs_engine_restart(old, new)


@pytest.mark.parametrize(
    ("change", "restart"),
    [
        ({"temperature": 1.0}, False),
        ({"system_prompt": "Hi"}, False),
        ({"hands_free": True}, False),
        ({"max_tokens": 50}, False),
        ({"caption_mode": True, "caption_size": 40}, False),
        ({"llm_model": "/models/other.gguf"}, True),
        ({"tts_voice": "/models/amy.onnx"}, True),
        ({"input_device": "USB"}, True),
        ({"output_device": "USB"}, True),
        ({"threads": 3}, True),
        ({"context_size": 4096}, True),
        ({"echo_cancellation": False}, True),
        ({"stt_short_window": False}, True),
    ],
)
def test_needs_engine_restart(change, restart):
    old = Settings()
    assert needs_engine_restart(old, old.replace(**change)) is restart
    assert not needs_engine_restart(old, old)


def test_invalid_combination_shows_error_and_stays_open(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    dialog.context_size.setValue(256)
    dialog.max_tokens.setValue(300)
    assert (dialog.context_size.value(), dialog.max_tokens.value()) == (256, 300)
    click_ok(qtbot, dialog)

    assert dialog.isVisible()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.error.isVisible()
    assert dialog.error.accessibleName() == "Settings error"
    assert "max_tokens" in dialog.error.text()
    with pytest.raises(RuntimeError):
        dialog.result_settings()

    dialog.max_tokens.setValue(100)
    click_ok(qtbot, dialog)
    assert accepted(dialog) == Settings(context_size=256, max_tokens=100)
    assert dialog.error.isHidden()


def test_ranges_keep_values_valid(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    dialog.temperature.setValue(5.0)
    dialog.threads.setValue(-1)
    dialog.context_size.setValue(100)
    assert dialog.temperature.value() == 2.0
    assert dialog.threads.value() == 0
    assert dialog.context_size.value() == 256
    assert dialog.context_size.maximum() == 131_072
    assert dialog.context_size.singleStep() == 256
    assert dialog.threads.maximum() == 64


def test_values_above_the_usual_range_are_kept(qtbot, open_dialog):
    saved = Settings(context_size=262_144, max_tokens=1000, threads=96)
    dialog = open_dialog(saved)
    click_ok(qtbot, dialog)
    assert accepted(dialog) == saved


def test_unknown_device_and_model_round_trip(qtbot, open_dialog, tmp_path):
    saved = Settings(
        input_device="Old USB Mic",
        output_device="usb head",  # part of a reported name: the engine still matches it
        llm_model=str(tmp_path / "elsewhere" / "custom.gguf"),
        stt_model="~/whisper/medium.en",
    )
    dialog = open_dialog(saved)

    assert dialog.input_device.currentText() == "Old USB Mic (not connected)"
    assert dialog.output_device.currentText() == "usb head (matches USB Headset)"
    assert dialog.llm_model.currentText() == "custom.gguf (from settings)"
    assert dialog.stt_model.currentText() == "medium.en (from settings)"
    for name in INPUTS:
        assert dialog.input_device.findData(name) >= 0
    click_ok(qtbot, dialog)
    assert accepted(dialog) == saved


def test_no_reported_devices_offer_only_the_system_default(qtbot, open_dialog):
    dialog = open_dialog(Settings(), inputs=[], outputs=[])
    for combo in (dialog.input_device, dialog.output_device):
        assert [combo.itemText(i) for i in range(combo.count())] == ["System default"]
    assert dialog.device_note.isVisible()
    assert "No audio devices were reported" in dialog.device_note.text()


def test_all_devices_reported_shows_no_note(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    assert dialog.findChild(QLabel, "device_note") is None
    assert dialog.input_device.count() == 1 + len(INPUTS)


def test_starter_chat_model_is_offered(qtbot, open_dialog, starter):
    dialog = open_dialog(Settings(), entries=all_models())
    combo = dialog.llm_model
    assert combo.itemText(0) == "Starter model"
    assert combo.itemData(0) == ""
    index = combo.findData(str(starter["llm"]))
    assert index > 0
    assert starter["llm"].stem in combo.itemText(index)
    assert "starter package" in combo.itemText(index)
    assert dialog.stt_model.findData(str(starter["stt"])) > 0
    assert dialog.tts_voice.findData(str(starter["tts"])) > 0


def test_add_gguf_file_selects_it(qtbot, open_dialog, monkeypatch, tmp_path):
    chosen = str(tmp_path / "downloads" / "mistral.gguf")
    calls = []

    def fake_open(*args):
        calls.append(args)
        return chosen, "GGUF models (*.gguf)"

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_open))
    dialog = open_dialog(Settings())
    count = dialog.llm_model.count()
    qtbot.mouseClick(dialog.add_model, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.add_model, Qt.MouseButton.LeftButton)  # the same file: no duplicate

    assert calls[0][3] == "GGUF models (*.gguf)"
    assert dialog.llm_model.count() == count + 1
    assert dialog.llm_model.currentText() == "mistral (chosen file)"
    click_ok(qtbot, dialog)
    assert accepted(dialog).llm_model == chosen


def test_cancelled_file_dialog_changes_nothing(qtbot, open_dialog, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a: ("", "")))
    dialog = open_dialog(Settings())
    count = dialog.llm_model.count()
    qtbot.mouseClick(dialog.add_model, Qt.MouseButton.LeftButton)
    assert dialog.llm_model.count() == count
    assert dialog.llm_model.currentData() == ""


def test_restore_defaults_resets_widgets(qtbot, open_dialog, models):
    saved = custom(models)
    dialog = open_dialog(saved)
    dialog.context_size.setValue(256)
    dialog.max_tokens.setValue(300)
    click_ok(qtbot, dialog)
    assert dialog.error.isVisible()

    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    defaults = Settings()
    assert dialog.error.isHidden()
    assert dialog.llm_model.currentData() == ""
    assert dialog.stt_model.currentData() == ""
    assert dialog.tts_voice.currentData() == ""
    assert dialog.input_device.currentText() == "System default"
    assert dialog.output_device.currentText() == "System default"
    assert dialog.hands_free.isChecked() == defaults.hands_free
    assert dialog.echo_cancellation.isChecked() == defaults.echo_cancellation
    assert dialog.temperature.value() == pytest.approx(defaults.temperature)
    assert dialog.max_tokens.value() == defaults.max_tokens
    assert dialog.context_size.value() == defaults.context_size
    assert dialog.system_prompt.toPlainText() == DEFAULT_SYSTEM_PROMPT
    assert dialog.threads.value() == 0
    assert dialog.stt_short_window.isChecked() == defaults.stt_short_window
    assert dialog.isVisible()

    click_ok(qtbot, dialog)
    # Caption settings live in the window's menus, not in this dialog: they are kept.
    assert accepted(dialog) == Settings(caption_mode=True, caption_size=40)


def test_reset_prompt_button(qtbot, open_dialog):
    dialog = open_dialog(Settings(system_prompt="Talk like a robot."))
    qtbot.mouseClick(dialog.reset_prompt, Qt.MouseButton.LeftButton)
    assert dialog.system_prompt.toPlainText() == DEFAULT_SYSTEM_PROMPT
    click_ok(qtbot, dialog)
    assert accepted(dialog).system_prompt == DEFAULT_SYSTEM_PROMPT


def test_echo_cancellation_tooltip_explains_half_duplex(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    assert "half duplex" in dialog.echo_cancellation.toolTip()


def test_tab_reaches_every_field_top_to_bottom(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.llm_model.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.llm_model)

    visited = []
    for _ in range(40):
        name = QApplication.focusWidget().objectName()
        if name in FIELDS and name not in visited:
            visited.append(name)
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert visited == FIELDS


def test_tab_in_system_prompt_moves_focus(qtbot, open_dialog):
    dialog = open_dialog(Settings(system_prompt="Hi"))
    dialog.activateWindow()
    dialog.system_prompt.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.system_prompt)
    qtbot.keyClick(dialog.system_prompt, Qt.Key.Key_Tab)
    assert dialog.system_prompt.toPlainText() == "Hi"
    assert QApplication.focusWidget() is dialog.reset_prompt


def test_every_field_has_a_name_and_labels_have_mnemonics(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    labels = dialog.findChildren(QLabel)
    buddies = {id(label.buddy()): label.text() for label in labels if label.buddy()}
    for name in FIELDS:
        widget = dialog.findChild(QWidget, name)
        assert widget is not None, name
        if isinstance(widget, QAbstractButton):
            text = widget.text()
        else:
            text = buddies.get(id(widget)) or widget.accessibleName()
        assert text, f"{name} has no label or accessible name"
        assert "&" in text, f"{name} has no keyboard mnemonic: {text!r}"

    keys = [
        text[text.index("&") + 1].lower()
        for text in [*buddies.values(), *(b.text() for b in dialog.findChildren(QAbstractButton))]
        if "&" in text
    ]
    assert len(keys) == len(set(keys)), f"mnemonics clash: {sorted(keys)}"


def test_mnemonic_focuses_its_field(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    dialog.activateWindow()
    dialog.llm_model.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.llm_model)
    qtbot.keyClick(dialog, Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is dialog.threads


def test_enter_presses_ok(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    assert dialog.ok_button.isDefault()
    dialog.activateWindow()
    dialog.temperature.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.temperature)
    dialog.temperature.setValue(0.2)
    qtbot.keyClick(dialog.temperature, Qt.Key.Key_Return)
    assert accepted(dialog) == Settings(temperature=0.2)


def test_remote_server_fields_round_trip_and_restart_the_engine(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    qtbot.keyClicks(dialog.remote_url, "http://big-pc.local:8080")
    qtbot.keyClicks(dialog.remote_model, "qwen2.5:7b")
    qtbot.keyClicks(dialog.remote_api_key, "secret")
    assert dialog.remote_api_key.echoMode() == dialog.remote_api_key.EchoMode.Password
    click_ok(qtbot, dialog)
    new = accepted(dialog)
    assert (new.remote_url, new.remote_model, new.remote_api_key) == (
        "http://big-pc.local:8080",
        "qwen2.5:7b",
        "secret",
    )
    assert needs_engine_restart(Settings(), new)


def test_a_remote_url_without_a_scheme_is_refused(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    qtbot.keyClicks(dialog.remote_url, "big-pc:8080")
    click_ok(qtbot, dialog)
    assert dialog.isVisible() and "remote_url must start with http" in dialog.error.text()


def test_devices_for_the_hub_round_trip_without_restarting_the_engine(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    dialog.satellites.setFocus()
    qtbot.keyClicks(dialog.satellites, "tcp://glasses.local:10700")
    qtbot.keyClick(dialog.satellites, Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.satellites, "  tcp://10.0.0.7:10700  ")
    qtbot.keyClick(dialog.satellites, Qt.Key.Key_Return)
    click_ok(qtbot, dialog)
    new = accepted(dialog)
    assert new.satellites == ("tcp://glasses.local:10700", "tcp://10.0.0.7:10700")
    assert not needs_engine_restart(Settings(), new)  # only `parley hub` reads them
    again = open_dialog(new)
    assert again.satellites.toPlainText().splitlines() == list(new.satellites)


def test_a_device_without_a_port_is_refused(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    qtbot.keyClicks(dialog.satellites, "glasses.local")
    click_ok(qtbot, dialog)
    assert dialog.isVisible() and "tcp://HOST:PORT" in dialog.error.text()


def test_judging_unfinished_sentences_can_be_turned_off(qtbot, open_dialog):
    dialog = open_dialog(Settings())
    assert dialog.turn_end_by_model.isChecked()
    qtbot.mouseClick(dialog.turn_end_by_model, Qt.MouseButton.LeftButton)
    click_ok(qtbot, dialog)
    new = accepted(dialog)
    assert new.turn_end_by_model is False
    assert needs_engine_restart(Settings(), new)  # the engine loads the judge at start


def test_tools_round_trip_and_approvals_can_be_forgotten(qtbot, open_dialog):
    start = Settings(mcp_always_allow=("notes/add_note",))
    dialog = open_dialog(start)
    assert dialog.local_intents.isChecked() and dialog.forget_approvals.isEnabled()
    dialog.mcp_servers.setFocus()
    qtbot.keyClicks(dialog.mcp_servers, "python -m notes_server")
    qtbot.mouseClick(dialog.forget_approvals, Qt.MouseButton.LeftButton)
    assert not dialog.forget_approvals.isEnabled()
    dialog.local_intents.setChecked(False)
    click_ok(qtbot, dialog)
    new = accepted(dialog)
    assert new.mcp_servers == ("python -m notes_server",) and new.mcp_always_allow == ()
    assert not new.local_intents
    assert needs_engine_restart(start, new)  # the servers start with the engine
