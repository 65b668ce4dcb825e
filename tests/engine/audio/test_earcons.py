"""The listening earcons: short, quiet, click-free, and the committed files match the code."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from desktop import paths
from desktop.engine.audio import earcons
from desktop.engine.audio.earcons import EARCONS, earcon_path, synthesize, write_all

RATE = earcons.RATE
COMMITTED = Path(__file__).resolve().parents[3] / "resources" / "earcons"


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16), wav.getframerate()


def dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size), 8 * audio.size))
    return float(np.fft.rfftfreq(8 * audio.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("name", EARCONS)
def test_earcon_is_short_quiet_and_click_free(name):
    audio = synthesize(name)
    assert audio.dtype == np.int16 and audio.ndim == 1
    longest = 1.2 if name == "timer" else 0.250  # a timer's chime is two arpeggios
    assert 0.100 <= audio.size / RATE <= longest
    peak = np.max(np.abs(audio)) / 32768
    assert 20 * np.log10(peak) < -6.0
    assert peak > 0.1  # audible: about -12 dBFS
    edge = round(0.002 * RATE)  # the first and last 2 ms stay 20 dB under the peak
    assert np.max(np.abs(audio[:edge])) / 32768 < 0.1 * peak  # fades in: no click
    assert np.max(np.abs(audio[-edge:])) / 32768 < 0.1 * peak  # fades out: no click
    assert audio[0] == 0 and audio[-1] == 0


def test_start_rises_and_end_falls():
    pitches = {}
    for name in EARCONS:
        audio = synthesize(name).astype(np.float64)
        half = audio.size // 2
        pitches[name] = (dominant_hz(audio[:half], RATE), dominant_hz(audio[half:], RATE))
    first, second = pitches["listen_start"]
    assert second > first * 1.2, pitches
    first, second = pitches["listen_end"]
    assert second < first / 1.2, pitches


def test_other_sample_rates_keep_the_length():
    at_48k = synthesize("listen_start", 48_000)
    assert abs(at_48k.size / 48_000 - synthesize("listen_start").size / RATE) < 0.001


def test_unknown_earcon_is_refused():
    with pytest.raises(ValueError, match="listen_start"):
        synthesize("beep")


@pytest.mark.parametrize("name", EARCONS)
def test_committed_file_matches_the_code(name):
    audio, rate = read_wav(COMMITTED / f"{name}.wav")
    assert rate == RATE
    expected = synthesize(name)
    assert audio.size == expected.size
    # Equal but for at most one step of rounding, should another numpy's sin differ
    # in its last bit. Rebuild with: python -m desktop.engine.audio.earcons
    assert np.max(np.abs(audio.astype(np.int32) - expected)) <= 1


def test_write_all_writes_every_earcon(tmp_path):
    written = write_all(tmp_path / "new")
    assert [path.name for path in written] == [f"{name}.wav" for name in EARCONS]
    for name, path in zip(EARCONS, written, strict=True):
        audio, rate = read_wav(path)
        assert rate == RATE and np.array_equal(audio, synthesize(name))


def test_missing_earcon_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "resources_dir", lambda: tmp_path)
    path = earcon_path("listen_end")
    assert path == tmp_path / "earcons" / "listen_end.wav"
    assert path.is_file() and (tmp_path / "earcons" / "listen_start.wav").is_file()


def test_committed_earcon_is_used_in_place():
    assert earcon_path("listen_start") == paths.resources_dir() / "earcons" / "listen_start.wav"
