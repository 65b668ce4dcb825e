"""A tool's approval asked aloud ("Shall I use add note from notes?") and the user's
spoken answer read as yes, no or always.

Only a clear yes counts: anything else, silence included, is a no, and words that
are not an answer at all go on to be answered as a question of their own.
"""

from __future__ import annotations

import re

YES = {"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "go ahead", "do it", "please do"}
NO = {"no", "nope", "don't", "do not", "cancel", "stop", "never mind", "not now"}
APPROVAL_WAIT_S = 15.0  # how long the voice loop listens for the answer


def question_for(server: str, tool: str) -> str:
    """What Parley asks: the tool's name said as words."""
    words = re.sub(r"[_\-.]+", " ", tool).strip()
    return f"Shall I use {words} from {server}? Say yes, no, or always."


def answer_of(text: str) -> str | None:
    """ "yes", "always" or "no" for an answer; None for words that are not one."""
    said = re.sub(r"[^\w' ]+", " ", text.lower()).split()
    phrase = " ".join(said)
    if "always" in said:
        return "always"
    if any(f" {no} " in f" {phrase} " for no in NO):
        return "no"
    if any(f" {yes} " in f" {phrase} " for yes in YES) and len(said) <= 6:
        return "yes"
    return None
