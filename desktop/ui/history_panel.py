"""The conversation list: search, continue, rename, delete and export saved chats.

It reads the same SQLite history the window's recorder writes; listing and
searching take milliseconds for thousands of conversations, so they run on the
GUI thread.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.history.export import export
from desktop.history.store import HistoryError, HistoryStore, Summary

SEARCH_DELAY_MS = 150


def _when(stamp: float) -> str:
    now = time.localtime()
    then = time.localtime(stamp)
    if then[:3] == now[:3]:
        return time.strftime("%H:%M", then)
    return time.strftime("%d %b %Y" if then.tm_year != now.tm_year else "%d %b", then)


class HistoryPanel(QWidget):
    """``open_requested(id)`` asks the window to continue a conversation; ``failed``
    carries a one-line message for the window's banner."""

    open_requested = Signal(int)
    failed = Signal(str)

    def __init__(self, store: HistoryStore | None) -> None:
        super().__init__()
        self.store = store
        self.current_id: int | None = None
        self.search = QLineEdit()
        self.search.setObjectName("history_search")
        self.search.setPlaceholderText("Search conversations")
        self.search.setAccessibleName("Search conversations")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._search_timer.start)
        self.list = QListWidget()
        self.list.setObjectName("history_list")
        self.list.setAccessibleName("Saved conversations")
        self.list.setWordWrap(True)
        self.list.itemActivated.connect(self._activated)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("history_empty")
        self.open_button = self._button("&Continue", self.open_selected, "continue")
        self.rename_button = self._button("Rena&me…", self.rename_selected, "rename")
        self.export_button = self._button("E&xport…", self.export_selected, "export")
        self.delete_button = self._button("Delete", self.delete_selected, "delete")
        delete_key = QShortcut(QKeySequence.StandardKey.Delete, self.list)
        delete_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete_key.activated.connect(self.delete_selected)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.rename_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(buttons)
        QWidget.setTabOrder(self.search, self.list)
        self.refresh()

    def _button(self, text: str, slot, name: str) -> QPushButton:  # noqa: ANN001
        button = QPushButton(text)
        button.setObjectName(f"history_{name}")
        button.setAutoDefault(False)
        button.clicked.connect(slot)
        return button

    # -- showing ----------------------------------------------------------------------------

    def set_store(self, store: HistoryStore | None) -> None:
        self.store = store
        self.refresh()

    def refresh(self) -> None:
        """List the conversations again (after a turn, a search, a rename...)."""
        selected = self.selected_id()
        found: list[Summary] = []
        if self.store is not None:
            try:
                found = self.store.conversations(self.search.text())
            except HistoryError as exc:
                self.failed.emit(exc.one_line())
        self.list.clear()
        for summary in found:
            item = QListWidgetItem(
                f"{summary.title}\n{_when(summary.updated_at)} · "
                f"{summary.turns} turn{'s' if summary.turns != 1 else ''}"
            )
            item.setData(Qt.ItemDataRole.UserRole, summary.id)
            item.setToolTip(summary.title)
            if summary.id == self.current_id:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
            if summary.id == selected:
                self.list.setCurrentItem(item)
        self.empty.setText(self._empty_text())
        self.empty.setVisible(not found)
        self.list.setVisible(bool(found))
        self._update_buttons()

    def _empty_text(self) -> str:
        if self.store is None:
            return "History is off (Settings > Answers)."
        if self.search.text().strip():
            return "No conversation mentions that."
        return "No saved conversations yet. Each turn is saved as it finishes."

    def selected_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        chosen = self.selected_id() is not None
        for button in (self.open_button, self.rename_button, self.export_button):
            button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    # -- actions ----------------------------------------------------------------------------

    def _activated(self, item: QListWidgetItem) -> None:
        self.open_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def open_selected(self) -> None:
        chosen = self.selected_id()
        if chosen is not None:
            self.open_requested.emit(chosen)

    def rename_selected(self) -> None:
        chosen = self.selected_id()
        if chosen is None or self.store is None:
            return
        old = self.list.currentItem().toolTip()
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=old)
        if ok and title.strip():
            self._try(lambda: self.store.rename(chosen, title))

    def delete_selected(self) -> None:
        chosen = self.selected_id()
        if chosen is None or self.store is None:
            return
        title = self.list.currentItem().toolTip()
        answer = QMessageBox.question(
            self,
            "Delete conversation",
            f"Delete “{title}”? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._try(lambda: self.store.delete(chosen))

    def export_selected(self) -> None:
        chosen = self.selected_id()
        if chosen is None or self.store is None:
            return
        title = self.list.currentItem().toolTip()
        safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip() or "chat"
        path, chosen_filter = QFileDialog.getSaveFileName(
            self,
            "Export conversation",
            str(Path.home() / f"{safe}.md"),
            "Markdown (*.md);;JSON (*.json)",
        )
        if path:
            self.export_to(chosen, Path(path))

    def export_to(self, conversation_id: int, path: Path) -> bool:
        """Write the conversation as Markdown, or JSON for a ``.json`` name."""
        fmt = "json" if path.suffix.lower() == ".json" else "md"
        try:
            text = export(self.store.get(conversation_id), fmt)
            path.write_text(text, encoding="utf-8")
        except HistoryError as exc:
            self.failed.emit(exc.one_line())
            return False
        except OSError as exc:
            self.failed.emit(f"could not write {path}: {exc.strerror}")
            return False
        return True

    def _try(self, action) -> None:  # noqa: ANN001
        try:
            action()
        except HistoryError as exc:
            self.failed.emit(exc.one_line())
        self.refresh()
