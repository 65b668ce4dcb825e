"""A reply started before the user has finished, held back until they have.

Why: after the endpoint, Parley still had to write the first clause and
synthesize it (about 400 ms on a 2-core CPU), while the endpoint itself sat
waiting for 320 ms of silence with the early transcript already in hand. So
the voice loop starts the turn on that early transcript as soon as it reads
as a whole sentence, and this gate holds everything the turn produces (its
transcript, tokens, timings and speech) until the endpoint comes. The
endpoint then lets it all through at once, and the first clause is already
synthesized. If the user speaks again first, the gate drops it all, the turn
is cancelled, and no one ever saw it.

Timings are rebased on the endpoint: a stage that was done before it reports 0.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from desktop.engine.events import Event, Timing, TurnResult


class ReplyAhead:
    """Holds one speculative turn's events: ``open`` lets them through, ``drop`` ends it."""

    def __init__(self, text: str, began_at: float) -> None:
        self.text = text  # the early transcript the turn answers
        self.began_at = began_at  # when the user started speaking (perf_counter)
        self.started_at = time.perf_counter()
        self.cancel = threading.Event()
        self._deliver: Callable[[Event], None] | None = None
        self._held: list[Event] = []
        self._lock = threading.Lock()
        self._shift_ms = 0.0
        self.opened = False
        self.dropped = False
        self.history: list | None = None  # the conversation before it, to undo a drop
        self.finished = False  # its turn has ended (the voice loop's turn worker says so)
        self.clock = None  # the voice loop's _HeardClock for it, filled in at the endpoint
        self._settled = threading.Event()  # opened or dropped

    def pass_on(self, event: Event, deliver: Callable[[Event], None]) -> None:
        """The turn's events go through here: held, delivered, or dropped."""
        with self._lock:
            if self.dropped:
                return
            if not self.opened:
                self._deliver = deliver
                self._held.append(event)
                return
        deliver(self._rebased(event))

    def open(self, ended_at: float) -> bool:
        """The endpoint came with no more speech: deliver what was held. False if
        the turn had already been dropped."""
        with self._lock:
            if self.dropped:
                return False
            self._shift_ms = (ended_at - self.started_at) * 1000.0
            held, self._held = self._held, []
            for event in held:
                if self._deliver is not None:
                    self._deliver(self._rebased(event))
            self.opened = True
            self._settled.set()
            return True

    def drop(self) -> None:
        """The user went on speaking: cancel the turn and forget all it produced."""
        with self._lock:
            if self.opened:
                return
            self.dropped = True
            self._held.clear()
            self._settled.set()
        self.cancel.set()

    def wait_opened(self, timeout: float = 60.0) -> bool:
        """Block until the endpoint lets this reply through (True) or the user went on
        speaking (False): what the reply does (a timer set, a tool run) waits for it."""
        self._settled.wait(timeout)
        return self.opened and not self.dropped

    def _rebased(self, event: Event) -> Event:
        if isinstance(event, Timing):
            return dataclasses.replace(event, ms=self._since_endpoint(event.ms))
        if isinstance(event, TurnResult):
            timings = {
                name: (self._since_endpoint(ms) if name.endswith("_ms") else ms)
                for name, ms in event.timings.items()
            }
            return dataclasses.replace(event, timings=timings)
        return event

    def _since_endpoint(self, ms: float | None) -> float | None:
        if ms is None:
            return None
        return round(max(0.0, ms - self._shift_ms), 1)


class ReplyAheadSlot:
    """Which pause the user is in, and the one reply that may be begun at it.

    Each pause of an utterance gets a new id (the user spoke again, stopped,
    or the utterance ended), so an early transcript that comes back after its
    pause is over starts nothing. The voice loop holds ``lock`` while it sets
    its own busy state from a reply's ``finished`` flag (see ``take``).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pause_id = 0
        self._ahead: ReplyAhead | None = None
        self._unconfirmed: ReplyAhead | None = None  # the last reply begun, until opened
        self.kept = 0  # replies begun ahead that the endpoint let through
        self.dropped = 0  # ... and that the user talked on over

    def next_pause(self) -> ReplyAhead | None:
        """A pause is over: drop the reply begun at it, if any (returned, for the log)."""
        with self.lock:
            ahead = self.take()
        if ahead is not None:
            ahead.drop()
            self.dropped += 1
        return ahead

    def take(self) -> ReplyAhead | None:
        """End this pause and hand over its reply, if one was begun. Call with ``lock`` held."""
        self.pause_id += 1
        ahead, self._ahead = self._ahead, None
        return ahead

    def begin(self, text: str, pause_id: int, began_at: float) -> ReplyAhead | None:
        """A reply for the early transcript of pause ``pause_id``; None if that pause is
        over or already has one."""
        with self.lock:
            if pause_id != self.pause_id or self._ahead is not None:
                return None
            self._ahead = ReplyAhead(text, began_at)
            return self._ahead

    def started(self, ahead: ReplyAhead, history: list) -> None:
        """Its turn began: remember the conversation as it was, to undo a drop."""
        ahead.history = list(history)
        self._unconfirmed = ahead

    def history_to_restore(self) -> list | None:
        """The conversation before a reply that was begun and then dropped: that reply
        never happened. None while a reply is held (its endpoint may yet come), after
        one was opened, or with none. (A reply may be dropped after its turn ended, so
        the turn worker asks before each new question as well as after each turn.)"""
        ahead = self._unconfirmed
        if ahead is None or not (ahead.dropped or ahead.opened):
            return None
        self._unconfirmed = None
        return ahead.history if ahead.dropped else None
