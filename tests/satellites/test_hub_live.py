"""The hub answering the real wyoming-satellite: spoken questions in, spoken replies out.

Everything is real except the satellite's microphone and speaker, which are
files (a paced WAV and a raw file): wyoming-satellite 1.0.0 from PyPI in its
own venv, the Wyoming protocol on a loopback TCP port, the starter models.
"""

from __future__ import annotations

import threading
import time

import pytest

from desktop.engine.events import Transcript, TurnResult
from desktop.satellites.hub import Hub
from tests.conftest import to_16k, words
from tests.satellites.rig import SND_RATE, Satellite

pytestmark = pytest.mark.timeout(300)


class HubThread:
    """The hub on its own thread, its events collected per device name."""

    def __init__(self, assistant, uris: list[str]):
        self.events: list[tuple[str, object]] = []
        self.statuses: list[tuple[str, str, str]] = []
        self.finished_at: list[float] = []  # wall-clock time each TurnResult came
        self.lock = threading.Lock()
        self.hub = Hub(assistant, uris, on_status=self._status, on_event=self._event)
        self.thread = threading.Thread(target=self.hub.run, daemon=True)

    def _status(self, device, message: str) -> None:
        with self.lock:
            self.statuses.append((device.name, device.state, message))

    def _event(self, device, event) -> None:
        with self.lock:
            self.events.append((device.name, event))
            if isinstance(event, TurnResult):
                self.finished_at.append(time.time())

    def __enter__(self) -> HubThread:
        self.thread.start()
        assert self.hub.wait_ready(60)
        return self

    def __exit__(self, *exc) -> None:
        self.hub.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the hub did not stop"

    def results(self, name: str) -> list[TurnResult]:
        with self.lock:
            return [e for n, e in self.events if n == name and isinstance(e, TurnResult)]

    def transcripts(self, name: str) -> list[str]:
        with self.lock:
            return [
                e.text
                for n, e in self.events
                if n == name and isinstance(e, Transcript) and e.final
            ]

    def wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; statuses: {self.statuses[-6:]}")


def heard_words(satellite: Satellite, stt) -> list[str]:
    audio = satellite.received()
    assert audio.size > SND_RATE // 2, "the satellite's speaker got (almost) nothing"
    return words(stt.transcribe(to_16k(audio * 32768.0, SND_RATE)))


def test_a_real_satellite_is_answered_aloud_while_the_reply_is_written(assistant, say, tmp_path):
    question = say("How do I make a cup of tea?", "sat-tea")  # a reply of several clauses
    satellite = Satellite(tmp_path, "kitchen", [question]).start()
    try:
        with HubThread(assistant, [satellite.uri]) as hub:
            hub.wait_for(lambda: hub.results("kitchen"), 90, "the satellite's turn")
            # The reply's audio ends with audio-stop, and the satellite's player exits.
            hub.wait_for(lambda: satellite.replies_started(), 30, "the reply's audio")
            time.sleep(4)
        result = hub.results("kitchen")[0]
        assert {"make", "cup", "tea"} <= set(words(result.transcript)), result.transcript
        said = words(result.reply)
        heard = heard_words(satellite, assistant.stt)
        shared = set(said) & set(heard)
        assert len(shared) >= max(2, len(set(said)) // 3), (said, heard)
        # The first audio reached the device's speaker before the reply was written.
        assert satellite.replies_started()[0] < hub.finished_at[0]
        names = [name for name, _, _ in hub.statuses]
        assert "kitchen" in names  # the device named itself (info) and is shown by that name
    finally:
        satellite.stop()
