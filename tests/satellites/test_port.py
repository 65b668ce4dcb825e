"""The satellite port: microphone chunks reach the loop at 16 kHz; speech goes out as
Wyoming audio paced to the device's playback, and a Stop takes back all but the lead."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from desktop.satellites import port as port_module
from desktop.satellites.port import CHUNK_S, LEAD_S, SatellitePort
from desktop.satellites.wyoming import Event

pytestmark = pytest.mark.timeout(60)


class Wire:
    """What the port sent, with when."""

    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append((time.perf_counter(), event))

    def types(self) -> list[str]:
        with self.lock:
            return [e.type for _, e in self.events]

    def audio_seconds(self) -> float:
        with self.lock:
            return sum(
                len(e.payload or b"") / 2 / e.data["rate"]
                for _, e in self.events
                if e.type == "audio-chunk"
            )


def make_port(blocks: list[np.ndarray] | None = None) -> tuple[SatellitePort, Wire]:
    wire = Wire()
    sink = blocks if blocks is not None else []
    port = SatellitePort(lambda mic, played: sink.append(mic), lambda error: None, wire)
    port.start()
    return port, wire


def tone(seconds: float, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


def test_speech_is_sent_paced_with_a_small_lead_then_closed():
    port, wire = make_port()
    try:
        began = time.perf_counter()
        port.play(tone(2.0), 22050)
        time.sleep(0.3)
        assert port.playing
        sent = wire.audio_seconds()
        elapsed = time.perf_counter() - began
        # The lead goes at once, then the device's pace: never all 2 s at once.
        assert LEAD_S <= sent <= elapsed + LEAD_S + CHUNK_S, (sent, elapsed)
        deadline = time.monotonic() + 10
        while "audio-stop" not in wire.types() and time.monotonic() < deadline:
            time.sleep(0.05)
        types = wire.types()
        assert types[0] == "audio-start" and types[-1] == "audio-stop"
        assert types.count("audio-start") == 1
        assert wire.audio_seconds() == pytest.approx(2.0, abs=0.001)
        chunk = next(e for _, e in wire.events if e.type == "audio-chunk")
        samples = np.frombuffer(chunk.payload, "<i2")
        assert np.abs(samples).max() > 7000  # int16 speech sent as it is, not rescaled
    finally:
        port.stop()


def test_clauses_queued_back_to_back_play_as_one_stream():
    port, wire = make_port()
    try:
        for _ in range(3):
            port.play(tone(0.3), 22050)
        deadline = time.monotonic() + 10
        while "audio-stop" not in wire.types() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wire.types().count("audio-start") == 1
        assert wire.audio_seconds() == pytest.approx(0.9, abs=0.001)
    finally:
        port.stop()


def test_clear_takes_back_everything_not_yet_sent():
    port, wire = make_port()
    try:
        began = time.perf_counter()
        port.play(tone(5.0), 22050)
        time.sleep(0.5)
        port.clear()
        cleared_at = time.perf_counter()
        time.sleep(0.5)
        assert wire.audio_seconds() < cleared_at - began + LEAD_S + CHUNK_S
        assert "audio-stop" in wire.types()
        assert all(t <= cleared_at for t, e in wire.events if e.type == "audio-chunk")
        assert port.queued_seconds == 0.0
    finally:
        port.stop()


@pytest.mark.parametrize("rate", [16000, 22050, 48000])
def test_the_microphone_reaches_the_loop_at_16_khz(rate):
    blocks: list[np.ndarray] = []
    port, _ = make_port(blocks)
    try:
        chunk = (tone(0.064, rate)).tobytes()
        for _ in range(40):  # 2.56 s
            port.feed(chunk, rate, 1)
        deadline = time.monotonic() + 5
        while sum(b.size for b in blocks) < 2.4 * 16000 and time.monotonic() < deadline:
            time.sleep(0.01)
        heard = np.concatenate(blocks)
        assert heard.dtype == np.float32
        assert heard.size == pytest.approx(2.56 * 16000, abs=0.1 * 16000)
        assert 0.2 < np.abs(heard).max() < 0.3  # 8000 / 32768
    finally:
        port.stop()


def test_a_stereo_microphone_is_heard_on_its_first_channel():
    blocks: list[np.ndarray] = []
    port, _ = make_port(blocks)
    try:
        left = tone(0.064, 16000)
        stereo = np.stack([left, np.zeros_like(left)], axis=1).ravel()
        port.feed(stereo.tobytes(), 16000, 2)
        deadline = time.monotonic() + 5
        while not blocks and time.monotonic() < deadline:
            time.sleep(0.01)
        np.testing.assert_allclose(blocks[0], left / 32768.0)
    finally:
        port.stop()


def test_a_hub_that_falls_behind_drops_old_microphone_audio_instead_of_growing(monkeypatch):
    release = threading.Event()
    blocks: list[np.ndarray] = []

    def slow(mic, played) -> None:
        release.wait()
        blocks.append(mic)

    wire = Wire()
    port = SatellitePort(slow, lambda error: None, wire)
    port.start()
    try:
        chunk = tone(0.064, 16000).tobytes()
        for _ in range(port_module.MIC_QUEUE_CHUNKS * 3):
            port.feed(chunk, 16000, 1)
        assert port.dropped_mic_chunks >= port_module.MIC_QUEUE_CHUNKS
    finally:
        release.set()
        port.stop()
