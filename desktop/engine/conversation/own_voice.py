"""Remembers what Parley said, to recognise its own words coming back.

The last line of defence against answering itself: echo cancellation can
slip when the CPU is starved and the speaker underruns, and then a scrap of
Parley's own reply comes back through the microphone and is transcribed.
"""

from __future__ import annotations

import time
from collections import deque
from difflib import SequenceMatcher

from desktop.engine.speech.wer import normalized_words

WINDOW_S = 12.0  # how far back Parley's own words can come back as echo
SHARE = 0.6  # of the heard words, to count as Parley hearing itself


class OwnVoice:
    """The words of the clauses Parley spoke in the last few seconds."""

    def __init__(self, window_s: float = WINDOW_S, share: float = SHARE) -> None:
        self.window_s = window_s
        self.share = share
        self._said: deque[tuple[float, list[str]]] = deque(maxlen=64)

    def said(self, text: str) -> None:
        self._said.append((time.perf_counter(), normalized_words(text)))

    def heard_again(self, text: str) -> bool:
        """True when most of ``text`` is one run of words Parley said moments ago.

        A run, not a bag of words: a new question shares many common words
        with a long reply ("how", "does", "a", "have"), an echo shares a stretch.
        """
        heard = normalized_words(text)
        since = time.perf_counter() - self.window_s
        said = [word for at, words in self._said if at >= since for word in words]
        if not heard or not said:
            return False
        match = SequenceMatcher(None, heard, said, autojunk=False).find_longest_match(
            0, len(heard), 0, len(said)
        )
        return match.size >= self.share * len(heard)
