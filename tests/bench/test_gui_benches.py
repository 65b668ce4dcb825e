"""The window's benchmarks and the screenshot script run end to end.

Each starts its own virtual sound server and (for the screenshot) its own
Xvfb. They assert the report's shape and sanity, never a time.
"""

import json

import pytest

from tests.bench.scripts import run_ok


@pytest.mark.slow
def test_startup_benchmark_reports_both_milestones():
    report = json.loads(run_ok("bench/startup.py", "--rounds", "2", "--json").stdout)
    assert report["microphone"] is True
    assert 0 < report["window_shown_ms"] < report["ready_ms"]
    assert len(report["rounds"]) == 2
    assert report["targets"] == {"window_shown_ms": 1500, "ready_ms": 3000}


@pytest.mark.slow
def test_ui_responsiveness_benchmark_measures_loading_and_voice_turns():
    report = json.loads(run_ok("bench/ui_responsiveness.py", "--rounds", "2", "--json").stdout)
    assert report["turns"] == "2 voice turns"
    phases = report["phases"]
    assert set(phases) == {"loading", "turn", "idle"}
    assert phases["turn"]["ticks"] > 100, "the timer hardly ran during the turns"
    assert report["max_stall_ms"] == max(p["max_stall_ms"] for p in phases.values())


@pytest.mark.slow
def test_screenshot_script_saves_the_window_after_real_turns(tmp_path, qapp):
    import numpy as np
    from PySide6.QtGui import QImage

    run_ok("tools/screenshot.py", "--out", str(tmp_path))
    for name in ("window.png", "captions.png"):
        image = QImage(str(tmp_path / name))
        assert (image.width(), image.height()) == (900, 720), name
        gray = image.convertToFormat(QImage.Format.Format_Grayscale8)  # kept: it owns the bytes
        pixels = np.frombuffer(gray.constBits(), np.uint8)
        assert pixels.std() > 10, f"{name} is blank"
