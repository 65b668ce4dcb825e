"""Audio in and out of files, and plain checks on recorded audio.

Everything here works on numpy arrays: float32 mono at 16 kHz for speech in,
int16 mono at the voice's rate for speech out. Live microphone and speaker
streams share these types, so a WAV file and a microphone take the same path.
"""

from __future__ import annotations

import contextlib
import os
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from desktop.errors import AudioError, OutputError

STT_RATE = 16_000
SILENCE_DBFS = -50.0
# The longest recording Parley takes, from a file or as an array: 38 MB of samples
# and about 20 s of transcription on two cores. A spoken question lasts seconds;
# ten minutes leaves room for dictation and the serve API's transcriptions.
MAX_AUDIO_SECONDS = 600.0
MAX_BAD_FRACTION = 0.01  # NaN/infinite samples mended as silence; more is a damaged file
_GROUP_SAMPLES = 1 << 16  # source samples resampled at a time


def load_audio(path: str | os.PathLike, max_seconds: float | None = None) -> np.ndarray:
    """Decode any audio file PyAV reads into float32 mono at 16 kHz.

    Decoding streams frame by frame and stops at ``max_seconds`` (by default
    MAX_AUDIO_SECONDS), so an hour-long or endless file costs at most that
    much memory and is refused with a message that names the limit. Samples
    stay float32 all the way (faster-whisper's decoder goes through int16,
    which turns NaN into full-scale noise); damaged samples are dealt with in
    ``clean_samples``.
    """
    path = Path(path)
    limit = MAX_AUDIO_SECONDS if max_seconds is None else max_seconds
    if not path.is_file():
        raise AudioError(f"no audio file at {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name} is empty", "record the question again")
    try:
        audio = _decode(path, limit)
    except AudioError:
        raise
    except Exception as exc:  # PyAV raises many kinds; all mean "not readable audio"
        raise AudioError(
            f"{path.name} is not an audio file Parley can read ({type(exc).__name__})",
            "use a WAV, FLAC, MP3 or OGG recording",
        ) from exc
    if audio.size == 0:
        raise AudioError(
            f"{path.name} holds no audio samples Parley can read",
            "record the question again, as WAV, FLAC, MP3 or OGG",
        )
    return clean_samples(audio, path.name)


def _decode(path: Path, limit_s: float) -> np.ndarray:
    """Decode, downmix and resample in bounded pieces; AudioError past ``limit_s``."""
    import av

    most = int(limit_s * STT_RATE)
    # Only the local file: a playlist inside an "audio" file must not reach the network.
    with av.open(
        str(path), mode="r", metadata_errors="ignore", options={"protocol_whitelist": "file"}
    ) as container:
        if not container.streams.audio:
            raise AudioError(f"{path.name} has no sound in it", "choose an audio recording")
        stream = container.streams.audio[0]
        # Channels are averaged here: FFmpeg's own downmix adds them at -3 dB, which
        # takes two loud channels past full scale.
        resampler = av.AudioResampler(format="fltp", rate=STT_RATE)
        fifo = av.AudioFifo()
        parts: list[np.ndarray] = []
        total = 0

        def take(frame: object) -> None:
            nonlocal total
            for out in resampler.resample(frame):
                samples = out.to_ndarray().mean(axis=0, dtype=np.float32)
                total += samples.size
                if total > most:
                    raise AudioError(
                        f"{path.name} is longer than Parley takes "
                        f"(the limit is {_minutes(limit_s)})",
                        f"cut it into parts of at most {_minutes(limit_s)}",
                    )
                parts.append(samples)

        for frame in _valid_frames(container.decode(stream)):
            frame.pts = None  # a damaged file's timestamps must not stop the decoding
            fifo.write(frame)
            if fifo.samples >= _GROUP_SAMPLES:
                take(fifo.read())
        if fifo.samples:
            take(fifo.read())
        take(None)  # flush the resampler
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _valid_frames(frames: Iterator) -> Iterator:
    """Skip frames the decoder calls invalid, as faster-whisper does, and go on."""
    import av

    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def clean_samples(audio: np.ndarray, name: str = "the recording") -> np.ndarray:
    """Mend or refuse damaged float samples, in place.

    A few NaN or infinite samples (a glitch in a recorder) become silence;
    more than MAX_BAD_FRACTION of them is a damaged file, refused. Values past
    full scale are clipped to it, as a sound card would.
    """
    bad = ~np.isfinite(audio)
    count = int(np.count_nonzero(bad))
    if count > MAX_BAD_FRACTION * audio.size:
        raise AudioError(
            f"{name} holds invalid samples (NaN or infinity) in {100 * count / audio.size:.0f}% "
            "of it",
            "the file is damaged; record it again",
        )
    if count:
        audio[bad] = 0.0
    np.clip(audio, -1.0, 1.0, out=audio)
    return audio


def _minutes(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def level_dbfs(audio: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for digital silence).

    Summed a block at a time, so a long recording needs no float64 copy of itself."""
    if audio.size == 0:
        return float("-inf")
    scale = 32768.0 if audio.dtype == np.int16 else 1.0
    flat = audio.reshape(-1)
    energy = 0.0
    for start in range(0, flat.size, 1 << 20):
        block = flat[start : start + (1 << 20)].astype(np.float64) / scale
        energy += float(np.dot(block, block))
    rms = (energy / flat.size) ** 0.5
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


VOICED_BELOW_PEAK_DB = 30.0  # a 10 ms stretch this far under the loudest is not the voice
VOICED_FLOOR_DBFS = -50.0


def voice_ends_at(audio: np.ndarray, rate: int = STT_RATE) -> int:
    """Index just past the last voiced 10 ms of ``audio`` (0 if none): the last stretch
    within 30 dB of its loudest and above -50 dBFS. The moment a listener hears the
    speaker stop, which a VAD's 32 ms frames and release only bracket."""
    window = rate // 100
    blocks = audio[: audio.size // window * window].astype(np.float64).reshape(-1, window)
    if blocks.size == 0:
        return 0
    power = 10 * np.log10(np.maximum(np.mean(blocks**2, axis=1), 1e-12))
    loud = np.flatnonzero(power >= max(power.max() - VOICED_BELOW_PEAK_DB, VOICED_FLOOR_DBFS))
    return int(loud[-1] + 1) * window if loud.size else 0


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
