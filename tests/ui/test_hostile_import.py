"""Every malformed model file from tests/gguf_samples.py, given to the window.

Dropped on the window (the import path), each gets its own one-line message in
the banner and nothing is copied; chosen as the chat model (the engine path),
the engine process refuses it, the banner says why, and the window lives on.
Offscreen Qt and the real engine process; the OS file dialog is the only stand-in.
"""

import pytest
from PySide6.QtCore import Qt

from desktop.config import Settings
from desktop.host.messages import LoadFailed, Ready
from tests import gguf_samples
from tests.engine.llm.test_gguf_check import EXPECTED, TEMPLATE_SAMPLES
from tests.ui.test_main_window import READY_MS, Seen, drop_file, open_window

ALL = {**EXPECTED, **TEMPLATE_SAMPLES}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return gguf_samples.make_malformed(tmp_path_factory.mktemp("window-samples"))


def test_every_malformed_model_dropped_on_the_window_is_explained(qtbot, parley_home, samples):
    window = open_window(qtbot, Settings(), wait_ready=False)
    models = parley_home / "data" / "models"
    problems = []
    try:
        for name in sorted(ALL):
            window.banner.hide()
            drop_file(window, samples[name])
            qtbot.waitUntil(window.banner.isVisible, timeout=10_000)
            text = window.banner.message.text()
            if (
                ALL[name] not in text
                or samples[name].name not in text
                or "unexpected error" in text
            ):
                problems.append(f"{name}: {text!r}")
            if (models / samples[name].name).exists():
                problems.append(f"{name}: copied into the models folder")
        assert window.isVisible()
    finally:
        window.close()
    assert not problems, "\n".join(problems)


def choose_in_window(qtbot, window, monkeypatch, path) -> str:
    """Pick ``path`` with "Add a GGUF file…" and wait for the engine's verdict."""
    seen = Seen(window)
    monkeypatch.setattr(
        "desktop.ui.main_window.QFileDialog.getOpenFileName",
        lambda *a, **k: (str(path), "GGUF models (*.gguf)"),
    )
    window.banner.hide()
    qtbot.mouseClick(window.first_run.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen.of(LoadFailed)) or bool(seen.of(Ready)), timeout=READY_MS)
    assert not seen.of(Ready)
    assert window.banner.isVisible()
    assert window.pages.currentWidget() is window.first_run
    return window.banner.message.text()


def check_engine_path(qtbot, parley_home, monkeypatch, samples, names):
    window = open_window(
        qtbot, Settings(llm_model=str(parley_home / "gone.gguf")), wait_ready=False
    )
    problems = []
    try:
        window.start_engine()
        assert window.pages.currentWidget() is window.first_run
        for name in names:
            text = choose_in_window(qtbot, window, monkeypatch, samples[name])
            if ALL[name] not in text or samples[name].name not in text:
                problems.append(f"{name}: {text!r}")
    finally:
        window.close()
    assert not problems, "\n".join(problems)


def test_every_malformed_model_chosen_in_the_window_is_refused_by_the_engine(
    qtbot, parley_home, monkeypatch, samples
):
    # About 0.3 s a sample: the engine process checks the file before llama.cpp sees it.
    check_engine_path(qtbot, parley_home, monkeypatch, samples, sorted(ALL))
