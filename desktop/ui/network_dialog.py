"""Network activity: what, if anything, left this device, and what was refused.

Reads the offline guard's record (desktop/netguard.py, ``network.jsonl`` in the
log folder), written by the window, the engine and the command line alike, so
users can check the promise that nothing goes out unless they asked for it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import netguard

COLUMNS = ("Time", "Process", "Host", "What", "Verdict", "Why")
EMPTY_TEXT = "Nothing has left this device."
WHAT = {"connect": "connection", "lookup": "name lookup", "send": "sending"}


def local_time(stamp: str) -> str:
    """'2026-01-02T10:00:00+0000' in this computer's time zone, as 2026-01-02 11:00:00."""
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
    except (TypeError, ValueError):
        return str(stamp)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def row_texts(entry: dict) -> list[str]:
    """One record as the table's cells."""
    host = str(entry.get("host", "?"))
    port = entry.get("port")
    return [
        local_time(entry.get("time", "")),
        str(entry.get("process", "")),
        host if port is None else f"{host}:{port}",
        WHAT.get(entry.get("event", ""), str(entry.get("event", ""))),
        str(entry.get("verdict", "")),
        str(entry.get("reason", "")),
    ]


def summary(entries: list[dict]) -> str:
    """One sentence on the whole record."""
    allowed = sum(1 for e in entries if e.get("verdict") == "allowed")
    refused = len(entries) - allowed
    went = (
        "Nothing left this device"
        if not allowed
        else f"{allowed} went out, each for a download you started or a remote server you set up"
    )
    blocked = "nothing was refused" if not refused else f"Parley refused {refused}"
    return f"{went}; {blocked}."


def mcp_note(servers: tuple[str, ...]) -> str:
    """MCP servers are processes of their own: what they do is not in this record."""
    if not servers:
        return ""
    listed = "; ".join(servers)
    return (
        f"Configured MCP servers run as programs of their own, outside Parley's offline "
        f"guard: their connections are not in this list ({listed})."
    )


class NetworkDialog(QDialog):
    """Lists the offline guard's record, newest first; Esc or Close closes it."""

    def __init__(
        self,
        parent: QWidget | None = None,
        log_path: Path | None = None,
        mcp_servers: tuple[str, ...] = (),
    ) -> None:
        super().__init__(parent)
        self.mcp_servers = mcp_servers
        self.setWindowTitle("Network activity")
        self.setAccessibleName("Network activity")
        self.resize(820, 420)
        self.log_path = log_path or netguard.log_path()
        self._build()
        self.refresh()

    def _build(self) -> None:
        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setObjectName("empty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setAccessibleName(EMPTY_TEXT)
        font = self.empty.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        self.empty.setFont(font)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("activity")
        self.table.setAccessibleName("Network activity, newest first")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab moves on to the buttons
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setObjectName("refresh")
        self.refresh_button.setAccessibleName("Refresh the list")
        self.refresh_button.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.setObjectName("close")
        close.setAccessibleName("Close")
        close.setDefault(True)
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        self.outside = QLabel(mcp_note(self.mcp_servers))
        self.outside.setObjectName("mcp_servers")
        self.outside.setWordWrap(True)
        self.outside.setVisible(bool(self.mcp_servers))
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.outside)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def refresh(self) -> None:
        """Read the record again (the engine may have added to it)."""
        entries = list(reversed(netguard.read_log(self.log_path)))
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            texts = row_texts(entry)
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(texts[-1])
                self.table.setItem(row, column, item)
        self.entries = entries
        self.empty.setVisible(not entries)
        self.table.setVisible(bool(entries))
        if entries:
            self.summary.setText(summary(entries))
        else:
            self.summary.setText(
                "Parley made no connection off this device, and nothing tried to. "
                "Only a download you start or a remote server you set up may go out."
            )
        self.summary.setAccessibleName(self.summary.text())
