"""Word error rate: how Parley measures what speech recognition got wrong.

Used by the self-test, the benchmarks and the tests, so all three judge a
transcript the same way. Small numbers are spelled out ("6" and "six" are one
word) and case and punctuation are ignored.
"""

from __future__ import annotations

import re

_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def normalized_words(text: str) -> list[str]:
    found = re.findall(r"[a-z0-9']+", text.lower())
    return [_NUMBERS[int(w)] if w.isdigit() and int(w) < len(_NUMBERS) else w for w in found]


def word_errors(reference: str, heard: str) -> tuple[int, int]:
    """Word-level edit distance, and the number of words in the reference."""
    ref, hyp = normalized_words(reference), normalized_words(heard)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, 1):
            substitution = diagonal + (ref_word != hyp_word)
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, substitution)
    return row[-1], len(ref)


def word_error_rate(pairs: list[tuple[str, str]]) -> float:
    """Errors over reference words, across (reference, heard) pairs."""
    errors = size = 0
    for reference, heard in pairs:
        e, n = word_errors(reference, heard)
        errors, size = errors + e, size + n
    return errors / max(size, 1)
