"""Audio in and out of files, and plain checks on recorded audio.

Everything here works on numpy arrays: float32 mono at 16 kHz for speech in,
int16 mono at the voice's rate for speech out. Live microphone and speaker
streams share these types, so a WAV file and a microphone take the same path.
"""

from __future__ import annotations

import contextlib
import os
import wave
from pathlib import Path

import numpy as np

from desktop.errors import AudioError, OutputError

STT_RATE = 16_000
SILENCE_DBFS = -50.0


def load_audio(path: str | os.PathLike) -> np.ndarray:
    """Decode any audio file PyAV reads into float32 mono at 16 kHz."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"no audio file at {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name} is empty", "record the question again")
    from faster_whisper.audio import decode_audio

    try:
        audio = decode_audio(str(path), sampling_rate=STT_RATE)
    except Exception as exc:  # PyAV raises many kinds; all mean "not readable audio"
        raise AudioError(
            f"{path.name} is not an audio file Parley can read ({type(exc).__name__})",
            "use a WAV, FLAC, MP3 or OGG recording",
        ) from exc
    if audio.size == 0:
        raise AudioError(f"{path.name} holds no audio samples", "record the question again")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{path.name} holds invalid samples (NaN or infinity)")
    return audio.astype(np.float32, copy=False)


def level_dbfs(audio: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for digital silence)."""
    if audio.size == 0:
        return float("-inf")
    samples = audio.astype(np.float64)
    if audio.dtype == np.int16:
        samples /= 32768.0
    rms = float(np.sqrt(np.mean(samples * samples)))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def seconds(audio: np.ndarray, rate: int = STT_RATE) -> float:
    return audio.shape[0] / rate


def write_wav(path: str | os.PathLike, audio: np.ndarray, rate: int) -> Path:
    """Write int16 mono PCM atomically: a failed write leaves no half file behind."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder, not a file name")
    tmp = path.with_name(f".{path.name}.part")
    try:
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(np.asarray(audio, dtype=np.int16).tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}", "choose a writable folder"
        ) from exc
    return path


def check_writable(path: str | os.PathLike) -> Path:
    """Fail before the work starts if the output cannot be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{path} is a folder, not a file name")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"cannot write {path}: permission denied", "choose a writable folder")
    return path
