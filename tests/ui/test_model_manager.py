"""The model manager over a stand-in hub (tests/hub_server.py) on 127.0.0.1.

The hub is the one thing that cannot exist here; it serves the starter GGUF's
real bytes under a catalog entry's file name, so the download, verification
and "use this model" path are all real.
"""

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.config import Settings
from desktop.library.catalog import load_catalog
from desktop.ui.model_manager import ModelManager
from tests.hub_server import HubServer


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: never the internet
    return tmp_path / "home"


@pytest.fixture
def hub(isolated_home, monkeypatch):
    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def a_hub_llm():
    return next(e for e in load_catalog() if e.role == "llm" and e.repo and len(e.files) == 1)


def open_manager(qtbot, settings=None):
    manager = ModelManager(settings or Settings())
    qtbot.addWidget(manager)
    manager.show()
    return manager


def test_lists_the_catalog_with_fit_labels_and_filters(qtbot, isolated_home):
    manager = open_manager(qtbot)
    assert manager.table.rowCount() == len(load_catalog())
    fits = {manager.table.item(r, 4).text() for r in range(manager.table.rowCount())}
    assert fits <= {"fits", "tight", "too big"} and fits
    qtbot.keyClicks(manager.filter, "qwen")
    names = [manager.table.item(r, 0).text() for r in range(manager.table.rowCount())]
    assert names and all("qwen" in n.lower() for n in names)
    manager.filter.clear()
    manager.role.setCurrentIndex(manager.role.findData("tts"))
    kinds = {manager.table.item(r, 1).text() for r in range(manager.table.rowCount())}
    assert kinds == {"voice"}


def test_download_with_progress_then_use_it(qtbot, hub, starter):
    entry = a_hub_llm()
    hub.add(entry.repo, entry.files[0], Path(starter["llm"]))
    hub.rate = 40_000_000  # bytes/s: slow enough for several progress updates
    manager = open_manager(qtbot)
    chosen = []
    manager.settings_chosen.connect(chosen.append)
    values = []
    manager.worker.progress.connect(lambda p: values.append(manager.progress.value()))
    manager.select(entry.id)
    assert manager.download_button.isEnabled() and not manager.use_button.isEnabled()
    with qtbot.waitSignal(manager.worker.finished, timeout=60_000):
        qtbot.mouseClick(manager.download_button, Qt.MouseButton.LeftButton)
    assert len(values) >= 2 and values == sorted(values)
    assert manager.status(entry) == "installed"
    assert "verified" in manager.message.text()
    manager.select(entry.id)
    qtbot.mouseClick(manager.use_button, Qt.MouseButton.LeftButton)
    (settings,) = chosen
    assert Path(settings.llm_model).read_bytes() == Path(starter["llm"]).read_bytes()
    assert manager.status(entry) == "in use"
    manager.select(entry.id)
    assert not manager.remove_button.isEnabled()  # the model in use cannot be removed


def test_pause_keeps_the_part_and_resume_finishes(qtbot, hub, starter):
    entry = a_hub_llm()
    hub.add(entry.repo, entry.files[0], Path(starter["llm"]))
    hub.rate = 10_000_000
    manager = open_manager(qtbot)
    manager.select(entry.id)
    qtbot.mouseClick(manager.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: manager.progress.value() > 0, timeout=30_000)
    with qtbot.waitSignal(manager.worker.failed, timeout=10_000):
        qtbot.mouseClick(manager.pause_button, Qt.MouseButton.LeftButton)
    assert manager.status(entry) == "paused" and "Paused" in manager.message.text()
    manager.select(entry.id)
    assert manager.download_button.text() == "&Resume"
    hub.rate = None
    with qtbot.waitSignal(manager.worker.finished, timeout=60_000):
        qtbot.mouseClick(manager.download_button, Qt.MouseButton.LeftButton)
    assert hub.ranges, "the second download should resume with a Range request"
    assert manager.status(entry) == "installed"


def test_a_corrupted_download_is_reported_and_nothing_kept(qtbot, hub, starter):
    entry = a_hub_llm()
    hub.add(entry.repo, entry.files[0], Path(starter["llm"]))
    hub.corrupt = True
    manager = open_manager(qtbot)
    manager.select(entry.id)
    with qtbot.waitSignal(manager.worker.failed, timeout=60_000):
        qtbot.mouseClick(manager.download_button, Qt.MouseButton.LeftButton)
    assert "sha256" in manager.message.text()
    assert manager.status(entry) in ("", "paused") and not list(entry.folder.glob("*.gguf"))


def test_importing_a_broken_file_says_why(qtbot, isolated_home, tmp_path, monkeypatch):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(3))
    # Stand-in for the OS file dialog, which needs a person to click it.
    monkeypatch.setattr(
        "desktop.ui.model_manager.QFileDialog.getOpenFileName", lambda *a, **k: (str(broken), "")
    )
    manager = open_manager(qtbot)
    with qtbot.waitSignal(manager.worker.failed, timeout=30_000):
        qtbot.mouseClick(manager.import_button, Qt.MouseButton.LeftButton)
    assert "broken.gguf" in manager.message.text() and "truncated" in manager.message.text()
    assert not (isolated_home / "data" / "models" / "broken.gguf").exists()
