"""Cut a streamed reply into clauses that can be spoken while the rest is written.

The first clause is cut early (at a comma after a few words) so the first
audio starts soon; later ones prefer whole sentences, which sound more
natural. Abbreviations and decimal numbers do not end a sentence.
"""

from __future__ import annotations

import re
import unicodedata

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "vs",
    "approx",
    "fig",
    "mt",
    "no",
}
_SENTENCE_END = ".!?…"
_SOFT_BREAK = ",;:—–"


class ClauseChunker:
    """Feed tokens; get back clauses ready for speech synthesis."""

    def __init__(self, first_min_words: int = 3, min_words: int = 8, max_words: int = 30) -> None:
        self.first_min_words = first_min_words
        self.min_words = min_words
        self.max_words = max_words
        self._buffer = ""
        self._emitted = 0

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        clauses: list[str] = []
        while (cut := self._find_cut()) is not None:
            clause, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if clause:
                clauses.append(clause)
                self._emitted += 1
        return clauses

    def flush(self) -> list[str]:
        """Whatever is left at the end of the reply."""
        rest, self._buffer = self._buffer.strip(), ""
        if rest:
            self._emitted += 1
            return [rest]
        return []

    def _find_cut(self) -> int | None:
        """Index just after the first place the buffer may be cut, or None."""
        text = self._buffer
        wanted = self.first_min_words if self._emitted == 0 else self.min_words
        words = 0
        for index, char in enumerate(text):
            if index + 1 >= len(text):
                break  # the character after a mark decides; wait for it
            following = text[index + 1]
            if char == "\n":
                if text[: index + 1].strip():
                    return index + 1
                continue
            if char.isspace() and index > 0 and not text[index - 1].isspace():
                words += 1
                if words >= self.max_words:
                    return index + 1
            if not following.isspace():
                continue
            if char in _SENTENCE_END and not _is_abbreviation(text[: index + 1]):
                return index + 1
            if char in _SOFT_BREAK and words + 1 >= wanted:
                return index + 1
        return None


def _is_abbreviation(text: str) -> bool:
    """True when the final "." of ``text`` ends an abbreviation or an initial."""
    if not text.endswith("."):
        return False
    last_word = text[:-1].split()[-1] if text[:-1].split() else ""
    last_word = last_word.lstrip("(\"'")
    if len(last_word) == 1 and last_word.isalpha() and last_word.isupper():
        return True  # an initial, as in "J. R. R. Tolkien"
    if "." in last_word:
        return True  # dotted abbreviations: e.g., i.e., p.m., U.S.
    return last_word.lower() in _ABBREVIATIONS


_MARKDOWN = re.compile(r"(\*\*|__|\*|`+|^#+\s*|^\s*[-*+]\s+|^\s*\d+\.\s+)", re.MULTILINE)
_URL = re.compile(r"https?://\S+")


def speakable(text: str) -> str:
    """Text as it should be read aloud: no markdown marks, links or emoji."""
    text = _URL.sub("a link", text)
    text = _MARKDOWN.sub("", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Cs", "Co", "Cn"))
    text = " ".join(text.split())
    return text if any(ch.isalnum() for ch in text) else ""
