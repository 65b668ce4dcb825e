"""What every chat model offers Parley: the ChatBackend protocol and its shared types.

A local GGUF (llama.py) and a bigger machine's server (remote.py) both stream a
reply through this one interface, so the turn never knows which it talks to.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]


@dataclass(frozen=True)
class SamplingOptions:
    """How replies are sampled; shared with bench/turn.py's direct call."""

    max_tokens: int = 200
    temperature: float = 0.6
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    seed: int = -1


class ChatBackend(Protocol):
    """Anything that streams a chat reply: a local model or, later, a remote server."""

    description: str
    prompt_opens_thought: bool

    def fit_messages(self, messages: list[Message]) -> tuple[list[Message], int]:
        """The messages trimmed to fit the context, and how many were dropped."""

    def stream_reply(
        self, messages: list[Message], cancel: threading.Event | None = None, prefix: str = ""
    ) -> Iterator[str]:
        """Yield the reply piece by piece; stop within one token once ``cancel`` is set.
        ``prefix``: the start of the reply, already written elsewhere, to carry on from."""
