"""Plays synthesized clauses in order on the default output device.

A small queue-fed thread over sounddevice, so the turn never waits for audio
to finish. The live voice loop will replace it with a full duplex stream.
"""

from __future__ import annotations

import logging
import queue
import threading

import numpy as np

from desktop.errors import AudioError

log = logging.getLogger(__name__)


def open_output():  # noqa: ANN201 - returns the sounddevice module
    """The sounddevice module once an output device is known to exist."""
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise AudioError("audio output is unavailable: PortAudio is not installed") from exc
    try:
        device = sounddevice.query_devices(kind="output")
    except (sounddevice.PortAudioError, ValueError) as exc:
        raise AudioError("no audio output device was found", "replies stay text only") from exc
    log.info("audio output: %s", device["name"])
    return sounddevice


class Player:
    """Queue clips; they play one after another until ``stop()``."""

    def __init__(self) -> None:
        self._sd = open_output()
        self._clips: queue.Queue[tuple[np.ndarray, int] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="parley-player", daemon=True)
        self._thread.start()

    def play(self, audio: np.ndarray, rate: int) -> None:
        self._clips.put((audio, rate))

    def stop(self) -> None:
        """Drop what is queued and cut the clip that is playing."""
        try:
            while True:
                self._clips.get_nowait()
        except queue.Empty:
            pass
        self._sd.stop()

    def _run(self) -> None:
        while (item := self._clips.get()) is not None:
            audio, rate = item
            try:
                self._sd.play(audio, rate, blocking=True)
            except Exception:  # a device that vanished must not kill the conversation
                log.exception("playback failed")
