"""One chat completion on the shared model, with the request's own sampling.

The request's max_tokens, temperature and top_p replace the model's sampling
only while the request holds the LLM lock, so other clients keep the defaults;
the defaults come back as soon as generation ends, before the client reads the
last bytes of the reply.
Reasoning (``<think>``) is split from the answer as it streams, and the ends
of both are trimmed as they stream, so a streamed reply joins up to exactly
the text a non-streamed one returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator

from desktop.engine.llm.backend import ChatBackend, Message
from desktop.engine.llm.reasoning import ThinkSplitter
from desktop.engine.llm.remote import BackendNotice

log = logging.getLogger(__name__)


@contextlib.contextmanager
def sampling_for(
    llm: ChatBackend,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
) -> Iterator[Callable[[], None]]:
    """The request's sampling for the block; hold the LLM lock around it.

    Yields ``restore``, which puts the defaults back early (idempotent), so they are
    back before the reply's last bytes leave and a client never sees them changed.
    """
    default = getattr(llm, "sampling", None)
    changes = {
        key: value
        for key, value in (
            ("max_tokens", max_tokens),
            ("temperature", temperature),
            ("top_p", top_p),
        )
        if value is not None
    }
    if default is None or not changes:
        yield lambda: None
        return

    def restore() -> None:
        llm.sampling = default  # type: ignore[attr-defined]

    llm.sampling = dataclasses.replace(default, **changes)  # type: ignore[attr-defined]
    try:
        yield restore
    finally:
        restore()


class _Trim:
    """Streams text with its leading and trailing whitespace removed: whitespace is
    held back until more text follows it."""

    def __init__(self) -> None:
        self._started = False
        self._pending = ""

    def feed(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            if not text:
                return ""
            self._started = True
        text = self._pending + text
        body = text.rstrip()
        self._pending = text[len(body) :]
        return body


class Reply:
    """Iterate for ``(is_reasoning, text)`` pieces; afterwards the token count and why it ended."""

    def __init__(
        self,
        llm: ChatBackend,
        messages: list[Message],
        cancel: threading.Event,
        on_end: Callable[[], None] = lambda: None,
    ) -> None:
        self.llm = llm
        self.on_end = on_end
        self.messages = messages
        self.cancel = cancel
        self.tokens = 0
        self.max_tokens = getattr(getattr(llm, "sampling", None), "max_tokens", None)

    @property
    def finish_reason(self) -> str:
        return "length" if self.max_tokens and self.tokens >= self.max_tokens else "stop"

    def __iter__(self) -> Iterator[tuple[bool, str]]:
        splitter: ThinkSplitter | None = None
        trims = {True: _Trim(), False: _Trim()}

        def trimmed(pieces: list[tuple[bool, str]]) -> Iterator[tuple[bool, str]]:
            for is_reasoning, text in pieces:
                text = trims[is_reasoning].feed(text)
                if text:
                    yield is_reasoning, text

        stream = self.llm.stream_reply(self.messages, self.cancel)
        try:
            for piece in stream:
                if isinstance(piece, BackendNotice):
                    log.warning("%s", piece)
                    continue
                self.tokens += 1
                if splitter is None:  # the backend knows only now whether <think> is open
                    splitter = ThinkSplitter(self.llm.prompt_opens_thought)
                yield from trimmed(splitter.feed(piece))
            if splitter is not None:
                yield from trimmed(splitter.flush())
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # releases the model even when the client went away
            self.on_end()


def prompt_token_count(llm: ChatBackend, messages: list[Message]) -> int:
    """Best effort: exact for a local model, 0 where the backend cannot count."""
    count = getattr(llm, "prompt_tokens", None)
    if count is None:
        return 0
    try:
        return len(count(messages))
    except Exception:  # counting is a courtesy; the reply matters more
        log.debug("could not count prompt tokens", exc_info=True)
        return 0
