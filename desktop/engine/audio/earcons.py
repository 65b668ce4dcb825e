"""Earcons: the short chimes Parley plays when it starts and stops listening, and
when a timer rings.

They are made here from sine tones, so the WAV files in resources/earcons can
always be rebuilt and checked against this code. Each is two soft notes about
160 ms long, rising (E5 to A5) to say "listening" and falling (A5 to E5) to
say "done". Every note fades in and out with raised-cosine ramps, so there is
no click, and the loudest sample sits at -12 dBFS, well under speech.

Rebuild the files with ``python -m desktop.engine.audio.earcons``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from desktop import paths
from desktop.engine.audio.samples import write_wav

EARCONS = ("listen_start", "listen_end", "timer")
RATE = 22_050
PEAK_DBFS = -12.0

E5, A5, CS6, E6 = 659.26, 880.0, 1108.73, 1318.51
# Each earcon: (frequency in Hz, start in s, length in s) for each note.
_NOTES = {
    "listen_start": ((E5, 0.000, 0.090), (A5, 0.060, 0.100)),
    "listen_end": ((A5, 0.000, 0.090), (E5, 0.060, 0.100)),
    # A timer or reminder: a rising arpeggio, twice, before its spoken message.
    "timer": tuple(
        (freq, repeat * 0.55 + step * 0.11, 0.16)
        for repeat in range(2)
        for step, freq in enumerate((A5, CS6, E6))
    ),
}
_ATTACK = 0.010  # s
_RELEASE = 0.035  # s
_DECAY = 0.080  # s, time constant of the chime's fade while it sounds
_OVERTONE = 0.15  # a quiet second harmonic, for a rounder tone than a bare sine


def _ramp(samples: int) -> np.ndarray:
    """A raised-cosine rise from 0 to 1 over ``samples`` samples."""
    return 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, samples))


def _note(freq: float, length: float, rate: int) -> np.ndarray:
    t = np.arange(round(length * rate)) / rate
    tone = np.sin(2 * np.pi * freq * t) + _OVERTONE * np.sin(4 * np.pi * freq * t)
    envelope = np.exp(-t / _DECAY)
    attack, release = round(_ATTACK * rate), round(_RELEASE * rate)
    envelope[:attack] *= _ramp(attack)
    envelope[-release:] *= _ramp(release)[::-1]
    return tone * envelope


def synthesize(name: str, sample_rate: int = RATE) -> np.ndarray:
    """The earcon ``name`` as int16 mono samples at ``sample_rate``."""
    if name not in _NOTES:
        raise ValueError(f"no earcon called {name!r}; there are {', '.join(EARCONS)}")
    notes = _NOTES[name]
    total = max(round((start + length) * sample_rate) for _, start, length in notes)
    mix = np.zeros(total)
    for freq, start, length in notes:
        note = _note(freq, length, sample_rate)
        first = round(start * sample_rate)
        mix[first : first + note.size] += note
    mix *= 10 ** (PEAK_DBFS / 20) / np.max(np.abs(mix))
    return np.round(mix * 32767).astype(np.int16)


def write_all(folder: Path) -> list[Path]:
    """Write ``<name>.wav`` for every earcon into ``folder``; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_wav(folder / f"{name}.wav", synthesize(name), RATE) for name in EARCONS]


def earcon_path(name: str) -> Path:
    """The WAV file for ``name`` in the resources folder, written first if it is missing."""
    if name not in _NOTES:
        raise ValueError(f"no earcon called {name!r}; there are {', '.join(EARCONS)}")
    path = paths.resources_dir() / "earcons" / f"{name}.wav"
    if not path.is_file():
        write_all(path.parent)
    return path


def main(argv: list[str] | None = None) -> None:
    """Rewrite the earcon WAV files: into the folder given, or resources/earcons."""
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else paths.resources_dir() / "earcons"
    for path in write_all(folder):
        print(path)


if __name__ == "__main__":
    main()
