"""One set of models, several satellites: each gets its turn, in the order it asked.

The chat model, whisper and the voice are loaded once. Every satellite's voice
loop reaches them through these wrappers, which let one caller in at a time
and queue the rest first come, first served, so no device waits behind another
that keeps talking. A reply is written as fast as the model can go and handed
to its satellite from a buffer: its pacing to the device's speaker never holds
the model while another satellite waits.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Iterator

import numpy as np

from desktop.engine.llm.backend import ChatBackend, Message
from desktop.engine.speech.stt import Transcriber
from desktop.engine.speech.tts import Synthesizer


class FairLock:
    """A lock granted in the order it was asked for (threading.Lock makes no such promise)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._waiting: deque[object] = deque()
        self._held = False
        self.holder: object = None

    @contextlib.contextmanager
    def held(self, owner: object = None) -> Iterator[None]:
        """Hold the lock for the block; ``owner`` is who holds it meanwhile (``holder``)."""
        ticket = object()
        with self._condition:
            self._waiting.append(ticket)
            while self._held or self._waiting[0] is not ticket:
                self._condition.wait()
            self._waiting.popleft()
            self._held = True
            self.holder = owner
        try:
            yield
        finally:
            with self._condition:
                self._held = False
                self.holder = None
                self._condition.notify_all()

    @property
    def queued(self) -> int:
        with self._condition:
            return len(self._waiting)


class SharedChat:
    """A ChatBackend for one satellite over the hub's one model."""

    def __init__(self, inner: ChatBackend, lock: FairLock, owner: object) -> None:
        self.inner = inner
        self.lock = lock
        self.owner = owner

    @property
    def description(self) -> str:
        return self.inner.description

    @property
    def prompt_opens_thought(self) -> bool:
        return self.inner.prompt_opens_thought

    @property
    def answered_by(self) -> str | None:
        return getattr(self.inner, "answered_by", None)

    def fit_messages(self, messages: list[Message]) -> tuple[list[Message], int]:
        return self.inner.fit_messages(messages)  # the tokenizer only: no lock needed

    def stream_reply(
        self, messages: list[Message], cancel: threading.Event | None = None, prefix: str = ""
    ) -> Iterator[str]:
        cancel = cancel or threading.Event()
        pieces: queue.SimpleQueue[str | BaseException | None] = queue.SimpleQueue()
        abandoned = threading.Event()  # the turn stopped reading (it failed or returned)

        def write() -> None:
            stop = _Either(cancel, abandoned)
            try:
                with self.lock.held(self.owner):
                    if stop.is_set():
                        return
                    for piece in self.inner.stream_reply(messages, stop, prefix):  # type: ignore[arg-type]
                        pieces.put(piece)
                        if stop.is_set():
                            break
            except BaseException as exc:  # handed to the reader, raised in its thread
                pieces.put(exc)
            finally:
                pieces.put(None)

        writer = threading.Thread(target=write, name="parley-shared-llm", daemon=True)
        writer.start()
        try:
            while (piece := pieces.get()) is not None:
                if isinstance(piece, BaseException):
                    raise piece
                yield piece
        finally:
            abandoned.set()


class _Either:
    """Looks like a threading.Event that is set when either of two is."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        self.first, self.second = first, second

    def is_set(self) -> bool:
        return self.first.is_set() or self.second.is_set()


class SharedTranscriber:
    """Whisper for one satellite; the hub's one model, one caller at a time."""

    def __init__(self, inner: Transcriber, lock: FairLock) -> None:
        self.inner = inner
        self.lock = lock

    def transcribe_raw(self, audio: np.ndarray) -> str:
        with self.lock.held():
            return self.inner.transcribe_raw(audio)

    def transcribe(self, audio: np.ndarray, source: str = "the recording") -> str:
        with self.lock.held():
            return self.inner.transcribe(audio, source=source)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class SharedSynthesizer:
    """The voice for one satellite; one clause at a time across the hub."""

    def __init__(self, inner: Synthesizer, lock: FairLock) -> None:
        self.inner = inner
        self.lock = lock

    @property
    def sample_rate(self) -> int:
        return self.inner.sample_rate

    def synthesize(self, text: str, cancel: threading.Event | None = None) -> np.ndarray:
        with self.lock.held():
            return self.inner.synthesize(text, cancel)

    def release_memory(self) -> None:
        pass  # another satellite's clause may be on its way: the hub trims when idle

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)
