"""The model manager: the catalog with fit labels, downloads with progress,
pause and resume, import, remove, and choosing the model for each role.

Downloads and imports run on worker threads; their progress comes back to
the GUI thread as signals, so the window never waits on the network or disk.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import paths
from desktop.config import Settings
from desktop.errors import Cancelled, ParleyError
from desktop.library.catalog import (
    ROLE_NAMES,
    SETTING_FOR_ROLE,
    CatalogEntry,
    load_catalog,
    search,
    setting_value,
)
from desktop.ui.banner import sentence

COLUMNS = ("Model", "Kind", "Size", "Memory", "Fit", "Status")


class Worker(QObject):
    """Runs one job off the GUI thread and reports back through signals."""

    progress = Signal(object)
    finished = Signal(object)  # the job's result
    failed = Signal(str)

    def run(self, job, *args) -> None:  # noqa: ANN001, ANN002
        def work() -> None:
            try:
                self.finished.emit(job(*args))
            except Cancelled:
                self.failed.emit("paused")
            except ParleyError as exc:
                self.failed.emit(exc.one_line())
            except Exception as exc:  # a bug must not leave the dialog waiting forever
                self.failed.emit(f"unexpected error: {exc}")

        threading.Thread(target=work, name="parley-models", daemon=True).start()


def import_model(path: str) -> object:
    """Check and copy a model file; the import a drop on the window uses too."""
    from desktop.library.importer import add_model

    return add_model(path)


class ModelManager(QDialog):
    """``settings_chosen`` carries new settings when the user picks a model to use."""

    settings_chosen = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from desktop.library.fit import device

        self.setWindowTitle("Parley models")
        self.resize(860, 520)
        self.settings = settings
        self.entries = load_catalog()
        self.device = device()
        self._cancel: threading.Event | None = None
        self._busy_id: str | None = None
        self.worker = Worker()
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self._build()
        self.refresh()

    # -- building -------------------------------------------------------------------------

    def _build(self) -> None:
        self.filter = QLineEdit()
        self.filter.setObjectName("filter")
        self.filter.setPlaceholderText("Search: qwen, reasoning, german…")
        self.filter.setAccessibleName("Search the catalog")
        self.filter.textChanged.connect(self.refresh)
        self.role = QComboBox()
        self.role.setObjectName("role")
        self.role.setAccessibleName("Kind of model")
        self.role.addItem("All kinds", "")
        for role, name in ROLE_NAMES.items():
            self.role.addItem(name.capitalize(), role)
        self.role.currentIndexChanged.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.role)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("catalog")
        self.table.setAccessibleName("Model catalog")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.details = QLabel()
        self.details.setObjectName("details")
        self.details.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setAccessibleName("Download progress")
        self.progress.hide()
        self.message = QLabel()
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        self.download_button = self._button("&Download", "download", self.download_selected)
        self.pause_button = self._button("&Pause", "pause", self.pause)
        self.use_button = self._button("&Use this model", "use", self.use_selected)
        self.remove_button = self._button("&Remove", "remove", self.remove_selected)
        self.import_button = self._button("&Import a file…", "import", self.import_file)
        close = self._button("Close", "close", self.reject)
        buttons = QHBoxLayout()
        for button in (
            self.download_button,
            self.pause_button,
            self.use_button,
            self.remove_button,
            self.import_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        fit = QLabel(
            f"Fit is for this device: {self.device.cores} cores, "
            f"{self.device.available_mb:,} MB of memory free."
        )
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(fit)
        layout.addWidget(self.details)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

    def _button(self, text: str, name: str, slot) -> QPushButton:  # noqa: ANN001
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    # -- the table ------------------------------------------------------------------------

    def visible_entries(self) -> list[CatalogEntry]:
        role = self.role.currentData()
        text = self.filter.text().strip()
        found = search(text, self.entries) if text else self.entries
        return [e for e in found if not role or e.role == role]

    def status(self, entry: CatalogEntry) -> str:
        from desktop.library.download import installed

        current = getattr(self.settings, SETTING_FOR_ROLE[entry.role])
        if entry.id == self._busy_id:
            return "downloading…"
        if entry.starter:
            return "in use" if not current else "installed"
        if installed(entry):
            return "in use" if current == setting_value(entry) else "installed"
        if entry.folder.exists():
            return "paused"
        return ""

    def refresh(self) -> None:
        from desktop.library.fit import fit_label, model_ram_mb

        selected = self.selected()
        entries = self.visible_entries()
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            ram = model_ram_mb(entry)
            cells = (
                entry.name,
                ROLE_NAMES[entry.role],
                f"{entry.size_mb:,} MB",
                f"{ram:,} MB",
                fit_label(ram, self.device),
                self.status(entry),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                self.table.setItem(row, column, item)
            if selected is not None and entry.id == selected.id:
                self.table.selectRow(row)
        self._update_buttons()

    def selected(self) -> CatalogEntry | None:
        items = self.table.selectedItems()
        if not items:
            return None
        entry_id = items[0].data(Qt.ItemDataRole.UserRole)
        return next(e for e in self.entries if e.id == entry_id)

    def select(self, entry_id: str) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == entry_id:
                self.table.selectRow(row)
                return
        raise KeyError(entry_id)

    def _update_buttons(self) -> None:
        entry = self.selected()
        status = self.status(entry) if entry else ""
        busy = self._busy_id is not None
        self.download_button.setEnabled(
            bool(entry) and not busy and not entry.starter and status in ("", "paused")
        )
        self.download_button.setText("&Resume" if status == "paused" else "&Download")
        self.pause_button.setEnabled(busy)
        self.use_button.setEnabled(status == "installed")
        self.remove_button.setEnabled(
            bool(entry) and not busy and not entry.starter and status in ("installed", "paused")
        )
        self.import_button.setEnabled(not busy)
        if entry is not None:
            traits = [f"licence {entry.licence}", "languages " + ", ".join(entry.languages)]
            if entry.reasoning:
                traits.append("thinks before answering")
            if entry.tools:
                traits.append("tool calls")
            self.details.setText(
                f"<b>{entry.name}</b> · {' · '.join(traits)}"
                + (f"<br>{entry.notes}" if entry.notes else "")
            )

    # -- actions --------------------------------------------------------------------------

    def download_selected(self) -> None:
        from desktop.library.download import download

        entry = self.selected()
        if entry is None:
            return
        self._busy_id = entry.id
        self._cancel = threading.Event()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.message.setText(f"Downloading {entry.name}…")
        self.refresh()
        self.worker.run(
            lambda: download(entry, progress=self.worker.progress.emit, cancel=self._cancel)
        )

    def pause(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def use_selected(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        self.settings = self.settings.replace(
            **{SETTING_FOR_ROLE[entry.role]: setting_value(entry)}
        )
        self.settings_chosen.emit(self.settings)
        self.message.setText(f"Parley now uses {entry.name}.")
        self.refresh()

    def remove_selected(self) -> None:
        from desktop.library.download import remove

        entry = self.selected()
        if entry is None:
            return
        if self.status(entry) == "in use":
            self.message.setText("That model is in use; choose another one first.")
            return
        remove(entry)
        self.message.setText(f"Removed {entry.name}.")
        self.refresh()

    def import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import a model",
            str(Path.home()),
            "Models (*.gguf *.onnx);;GGUF chat models (*.gguf);;Piper voices (*.onnx)",
        )
        if not path:
            return
        self._busy_id = "import"
        self.progress.setRange(0, 0)
        self.progress.show()
        self.message.setText(f"Checking {Path(path).name}…")
        self._update_buttons()
        self.worker.run(import_model, path)

    # -- worker results -------------------------------------------------------------------

    def _on_progress(self, p) -> None:  # noqa: ANN001 - DownloadProgress
        if p.total_bytes:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * p.done_bytes / p.total_bytes))
        self.message.setText(
            f"{Path(p.file).name}: {p.done_bytes / 1e6:.1f} of {p.total_bytes / 1e6:.1f} MB"
            f" ({p.bytes_per_s / 1e6:.1f} MB/s)"
        )

    def _on_done(self, result: object) -> None:
        was = self._busy_id
        self._end_job()
        if was == "import":
            self.message.setText(
                f"Imported {result.name} into {paths.models_dir()}. "
                "Choose it in Settings to use it."
            )
        else:
            self.message.setText("Downloaded and verified. Select it and press Use this model.")
        self.refresh()

    def _on_failed(self, message: str) -> None:
        self._end_job()
        if message == "paused":
            self.message.setText("Paused; press Resume to go on where it stopped.")
        else:
            self.message.setText(sentence(message))
        self.refresh()

    def _end_job(self) -> None:
        self._busy_id = None
        self._cancel = None
        self.progress.hide()

    def reject(self) -> None:
        self.pause()  # closing pauses a download; it resumes next time
        super().reject()
