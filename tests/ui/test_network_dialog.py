"""The Network activity dialog: lists the offline guard's record, newest first, with an
empty state that says nothing left the device; keyboard reachable, Esc closes."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialog  # noqa: E402

from desktop.netguard import LOG_NAME  # noqa: E402
from desktop.ui.network_dialog import EMPTY_TEXT, NetworkDialog, local_time  # noqa: E402

ENTRIES = [
    {
        "time": "2026-01-02T10:00:00+0000",
        "process": "cli",
        "pid": 10,
        "event": "connect",
        "host": "huggingface.co",
        "port": 443,
        "verdict": "allowed",
        "reason": "download of qwen2.5-0.5b",
    },
    {
        "time": "2026-01-02T10:05:00+0000",
        "process": "engine",
        "pid": 11,
        "event": "lookup",
        "host": "telemetry.example.com",
        "port": None,
        "verdict": "refused",
        "reason": "no download or remote backend asked for it",
    },
]


@pytest.fixture
def open_dialog(qtbot, tmp_path):
    def make(entries: list[dict] | None) -> NetworkDialog:
        log = tmp_path / LOG_NAME
        if entries is not None:
            log.write_text("".join(json.dumps(e) + "\n" for e in entries))
        dialog = NetworkDialog(log_path=log)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    return make


def cells(dialog: NetworkDialog) -> list[list[str]]:
    table = dialog.table
    return [
        [table.item(row, column).text() for column in range(table.columnCount())]
        for row in range(table.rowCount())
    ]


def test_lists_what_went_out_and_what_was_refused_newest_first(open_dialog):
    dialog = open_dialog(ENTRIES)
    assert dialog.windowTitle() == "Network activity"
    assert dialog.table.isVisible() and not dialog.empty.isVisible()
    assert cells(dialog) == [
        [
            local_time("2026-01-02T10:05:00+0000"),
            "engine",
            "telemetry.example.com",
            "name lookup",
            "refused",
            "no download or remote backend asked for it",
        ],
        [
            local_time("2026-01-02T10:00:00+0000"),
            "cli",
            "huggingface.co:443",
            "connection",
            "allowed",
            "download of qwen2.5-0.5b",
        ],
    ]
    assert "1 went out" in dialog.summary.text() and "refused 1" in dialog.summary.text()


def test_empty_state_says_nothing_left_the_device(open_dialog):
    dialog = open_dialog(None)  # no log file at all
    assert dialog.empty.isVisible() and dialog.empty.text() == EMPTY_TEXT
    assert not dialog.table.isVisible()
    assert "nothing tried to" in dialog.summary.text()


def test_refresh_reads_new_records(open_dialog, tmp_path):
    dialog = open_dialog([])
    assert dialog.empty.isVisible()
    (tmp_path / LOG_NAME).write_text(json.dumps(ENTRIES[0]) + "\n")
    dialog.refresh_button.click()
    assert dialog.table.rowCount() == 1 and not dialog.empty.isVisible()


def test_keyboard_reachable_with_names_and_esc_closes(qtbot, open_dialog):
    dialog = open_dialog(ENTRIES)
    for widget in (dialog.table, dialog.refresh_button, dialog.summary):
        assert widget.accessibleName()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.table)
    seen = []
    for _ in range(4):
        seen.append(QApplication.focusWidget().objectName())
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert {"activity", "refresh", "close"} <= set(seen)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected and not dialog.isVisible()


def test_local_time_keeps_an_unreadable_stamp():
    assert local_time("yesterday") == "yesterday"


def test_configured_mcp_servers_are_named_as_outside_the_guard(qtbot, tmp_path):
    from desktop.ui.network_dialog import NetworkDialog

    dialog = NetworkDialog(log_path=tmp_path / "none.jsonl", mcp_servers=("python -m notes",))
    qtbot.addWidget(dialog)
    dialog.show()
    note = dialog.findChild(object, "mcp_servers")
    assert note.isVisible() and "outside Parley's offline guard" in note.text()
    assert "python -m notes" in note.text()
    quiet = NetworkDialog(log_path=tmp_path / "none.jsonl")
    qtbot.addWidget(quiet)
    assert not quiet.findChild(object, "mcp_servers").isVisibleTo(quiet)
