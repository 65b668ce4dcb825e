"""Split a thinking model's ``<think>…</think>`` from its answer, while streaming.

DeepSeek-R1 distills and QwQ write their reasoning first. It is shown folded
away and never spoken. Tags can arrive split across tokens, so a possible
partial tag at the end of the buffer is held back until the next piece.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Feed streamed text; get back ``(is_reasoning, text)`` pieces in order.

    ``start_in_thought`` is for templates that open ``<think>`` in the prompt
    itself, so the model's output starts inside the reasoning.
    """

    def __init__(self, start_in_thought: bool = False) -> None:
        self._thinking = start_in_thought
        self._buffer = ""
        self._at_start = not start_in_thought

    def feed(self, text: str) -> list[tuple[bool, str]]:
        self._buffer += text
        pieces: list[tuple[bool, str]] = []
        while self._buffer:
            if self._at_start:
                stripped = self._buffer.lstrip()
                if not stripped or (OPEN_TAG.startswith(stripped) and stripped != OPEN_TAG):
                    break  # could still become "<think>"
                self._at_start = False
            tag = CLOSE_TAG if self._thinking else OPEN_TAG
            index = self._buffer.find(tag)
            if index >= 0:
                self._emit(pieces, self._buffer[:index])
                self._buffer = self._buffer[index + len(tag) :]
                self._thinking = not self._thinking
                continue
            keep = _partial_tag_suffix(self._buffer, tag)
            self._emit(pieces, self._buffer[: len(self._buffer) - keep])
            self._buffer = self._buffer[len(self._buffer) - keep :]
            break
        return pieces

    def flush(self) -> list[tuple[bool, str]]:
        """The rest of the buffer, at the end of the stream."""
        pieces: list[tuple[bool, str]] = []
        self._emit(pieces, self._buffer)
        self._buffer = ""
        return pieces

    def _emit(self, pieces: list[tuple[bool, str]], text: str) -> None:
        if text:
            pieces.append((self._thinking, text))


def split_reasoning(text: str, start_in_thought: bool = False) -> tuple[str, str]:
    """Split a whole reply into ``(reasoning, answer)``."""
    splitter = ThinkSplitter(start_in_thought)
    pieces = splitter.feed(text) + splitter.flush()
    reasoning = "".join(t for thinking, t in pieces if thinking)
    answer = "".join(t for thinking, t in pieces if not thinking)
    return reasoning.strip(), answer.strip()
