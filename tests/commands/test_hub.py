"""`parley hub` as a user runs it on a small box: no window, the real satellite, and a
clean stop on SIGTERM (what systemd sends)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, run_parley
from tests.satellites.rig import Satellite

pytestmark = pytest.mark.timeout(300)


def test_without_satellites_it_says_how_to_name_one():
    done = run_parley("hub", timeout=60)
    assert done.returncode == 2
    assert "no satellites to answer" in done.stderr and "--satellite" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_malformed_satellite_address_is_one_clear_line():
    done = run_parley("hub", "--satellite", "glasses.local", timeout=60)
    assert done.returncode == 2
    assert "tcp://HOST:PORT" in done.stderr


def test_the_hub_answers_a_satellite_and_stops_cleanly_on_sigterm(say, tmp_path):
    satellite = Satellite(
        tmp_path, "tv-box", [say("What is the capital of France?", "sat-fr")], lead_s=1.0
    ).start()
    hub = subprocess.Popen(
        [sys.executable, "-m", "desktop", "hub", "--satellite", satellite.uri],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        lines: list[str] = []
        assert hub.stdout is not None
        while time.monotonic() < deadline:
            line = hub.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "tv-box parley>" in line:
                break
        out = "".join(lines)
        assert "[connected: tv-box]" in out
        assert "tv-box you> What is the capital of France?" in out
        assert "tv-box parley>" in out
        hub.send_signal(signal.SIGTERM)
        rest, err = hub.communicate(timeout=30)
        assert hub.returncode == 0, err
        assert "hub stopped" in err
        assert "Traceback" not in err
    finally:
        if hub.poll() is None:
            hub.kill()
        satellite.stop()
