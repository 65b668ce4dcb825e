"""Audio files in and out: every bad input is a clear AudioError or OutputError."""

import os
import resource
import subprocess
import sys
import wave

import numpy as np
import pytest

from desktop.engine.audio.samples import check_writable, level_dbfs, load_audio, write_wav
from desktop.errors import AudioError, OutputError


def test_wav_round_trip_at_any_rate_is_16k_mono(tmp_path):
    tone = (np.sin(np.linspace(0, 2000 * np.pi, 22050)) * 10000).astype(np.int16)
    path = write_wav(tmp_path / "tone.wav", tone, 22050)
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert abs(audio.shape[0] - 16000) < 50
    assert -20 < level_dbfs(audio) < -8


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no audio file"):
        load_audio(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="is empty"):
        load_audio(tmp_path / "empty.wav")


def test_text_file_is_not_audio(tmp_path):
    (tmp_path / "notes.wav").write_text("these are my notes, not a recording\n" * 20)
    with pytest.raises(AudioError, match="not an audio file"):
        load_audio(tmp_path / "notes.wav")


def test_wav_header_without_samples(tmp_path):
    with wave.open(str(tmp_path / "none.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(tmp_path / "none.wav")


def test_write_into_a_missing_folder_is_refused_before_work(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_writable(tmp_path / "no" / "such" / "a.wav")
    with pytest.raises(OutputError, match="is a folder"):
        check_writable(tmp_path)


def test_full_disk_leaves_no_half_file(tmp_path):
    # RLIMIT_FSIZE stands in for a full disk: the write fails with EFBIG part-way.
    target = tmp_path / "reply.wav"
    code = (
        "import numpy as np, sys\n"
        "from desktop.engine.audio.samples import write_wav\n"
        "from desktop.errors import OutputError\n"
        "try:\n"
        f"    write_wav({str(target)!r}, np.zeros(200000, np.int16), 22050)\n"
        "except OutputError as exc:\n"
        "    print(exc.one_line()); sys.exit(2)\n"
    )

    def limit():
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        cwd=os.getcwd(),
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.startswith("cannot write")
    assert list(tmp_path.iterdir()) == []
