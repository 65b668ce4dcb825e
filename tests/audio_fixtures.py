"""Pytest plugin: a session-wide virtual sound card (see tests/audio_server.py).

Enable with `pytest_plugins = ["tests.audio_fixtures"]` in conftest.py, or
`-p tests.audio_fixtures` on the command line.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.audio_server import DEBIAN_PACKAGES, VirtualAudio, use_env


@pytest.fixture(scope="session")
def virtual_audio() -> Iterator[VirtualAudio]:
    """The running virtual audio server, with os.environ pointing at it.

    Child processes inherit the environment; this process's sounddevice is
    re-initialised so it lists the virtual devices even if it was imported
    earlier. Both are restored when the session ends.
    """
    missing = [
        tool for tool in ("pulseaudio", "pactl", "pacat", "paplay") if not shutil.which(tool)
    ]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install the Debian packages "
            f"{' '.join(DEBIAN_PACKAGES)} (make test does)"
        )
    with VirtualAudio() as audio, use_env(audio.env):
        yield audio
