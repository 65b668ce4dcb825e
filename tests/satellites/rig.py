"""The real wyoming-satellite 1.0.0 (PyPI), run as a user would on glasses or a Pi,
with a paced file for its microphone and a file for its speaker.

wyoming-satellite pins wyoming==1.4.1, so it lives in its own venv, made by
`make test` (the tests run offline): ~/.cache/parley/venvs/wyoming-satellite-1.0.0,
or PARLEY_WYOMING_SATELLITE. Nothing is faked: the protocol on the wire is the
satellite's own, and the microphone and speaker are what a satellite without
a sound card would use (--mic-command / --snd-command).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VENV = Path(
    os.environ.get(
        "PARLEY_WYOMING_SATELLITE",
        Path.home() / ".cache/parley/venvs/wyoming-satellite-1.0.0",
    )
)
SND_RATE = 22050  # the satellite's --snd-command-rate default


def satellite_program() -> list[str]:
    """How to start it: its console script in 1.0.0 names a missing function
    (``__main__.run``), so it is run as a module, as its README's script does."""
    python = VENV / "bin" / "python"
    assert (VENV / ".installed").exists(), (
        f"wyoming-satellite is not installed at {VENV}: `make test` makes that venv "
        "(python3 -m venv ... && pip install wyoming-satellite==1.0.0)"
    )
    return [str(python), "-m", "wyoming_satellite"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Satellite:
    """One wyoming-satellite process; ``uri`` is what the hub connects to."""

    def __init__(
        self,
        folder: Path,
        name: str,
        questions: list[Path],
        gap_s: float = 8.0,
        lead_s: float = 1.0,
        wait_for_replies: bool = False,
    ):
        self.folder = folder
        self.name = name
        self.questions = questions
        self.gap_s = gap_s
        self.lead_s = lead_s
        self.wait_for_replies = wait_for_replies  # ask the next question once it is quiet
        self.port = free_port()
        self.uri = f"tcp://127.0.0.1:{self.port}"
        self.sound = folder / f"{name}.raw"
        self.sound_log = folder / f"{name}-sound.jsonl"
        self.mic_log = folder / f"{name}-mic.jsonl"
        self.process: subprocess.Popen | None = None

    def start(self) -> Satellite:
        mic = [sys.executable, str(HERE / "paced_mic.py"), "--log", str(self.mic_log)]
        streaming = self.folder / f"{self.name}.streaming"
        streaming.unlink(missing_ok=True)
        mic += ["--after", str(streaming), "--lead", str(self.lead_s), "--gap", str(self.gap_s)]
        if self.wait_for_replies:
            mic += ["--quiet-file", str(self.sound_log)]
        mic += [str(q) for q in self.questions]
        snd = [sys.executable, str(HERE / "sound_sink.py"), str(self.sound), str(self.sound_log)]
        self.process = subprocess.Popen(
            [
                *satellite_program(),
                "--name",
                self.name,
                "--uri",
                f"tcp://127.0.0.1:{self.port}",
                "--mic-command",
                shlex.join(mic),
                "--snd-command",
                shlex.join(snd),
                "--streaming-start-command",
                shlex.join(["touch", str(streaming)]),
                "--no-zeroconf",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / f"{self.name}.log", "ab"),  # noqa: SIM115
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )
        self._wait_listening()
        return self

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the satellite never listened on {self.port}: {self.log_text()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        path = self.folder / f"{self.name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def received(self) -> np.ndarray:
        """Everything the satellite's speaker was sent, as float32 at SND_RATE."""
        if not self.sound.exists():
            return np.zeros(0, np.float32)
        return np.frombuffer(self.sound.read_bytes(), "<i2").astype(np.float32) / 32768.0

    def wait_until_quiet(self, quiet_s: float = 2.0, timeout: float = 60.0) -> None:
        """Until the speaker file has stopped growing for ``quiet_s``."""
        deadline = time.monotonic() + timeout
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_size = self.sound.stat().st_size if self.sound.exists() else 0
            if now_size != size:
                size, since = now_size, time.monotonic()
            elif size > 0 and time.monotonic() - since >= quiet_s:
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name}'s speaker never went quiet")

    def replies_started(self) -> list[float]:
        entries = [json.loads(line) for line in _lines(self.sound_log)]
        return [e["first_audio"] for e in entries if "first_audio" in e]

    def voice_ends(self) -> list[float]:
        return [json.loads(line)["voice_end"] for line in _lines(self.mic_log)]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
