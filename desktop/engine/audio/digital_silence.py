"""Notices a microphone that delivers only zeros: muted, or Parley has no permission.

Real microphones always carry some noise; exact zeros for seconds mean the
audio never reaches Parley, and the user should be told rather than wonder why
nothing is heard.
"""

from __future__ import annotations

import numpy as np

DIGITAL_SILENCE_S = 3.0


class DigitalSilenceWatch:
    """Fed every microphone block; says once when the zeros have lasted too long."""

    def __init__(self, after_s: float = DIGITAL_SILENCE_S) -> None:
        self._after_s = after_s
        self._since: float | None = None
        self._warned = False

    def feed(self, mic: np.ndarray, now: float) -> bool:
        """True the first time the microphone has been silent for ``after_s``."""
        if np.any(mic):
            self._since = None
            return False
        if self._since is None:
            self._since = now
            return False
        if self._warned or now - self._since <= self._after_s:
            return False
        self._warned = True
        return True
