"""One set of models for several satellites: granted in the order asked, and a slow
listener never holds the model (the real starter chat model)."""

from __future__ import annotations

import threading
import time

import pytest

from desktop.errors import Cancelled, ParleyError
from desktop.satellites.sharing import FairLock, SharedChat

pytestmark = pytest.mark.timeout(120)


def test_the_lock_is_granted_in_the_order_it_was_asked_for():
    lock = FairLock()
    order: list[int] = []
    release = threading.Event()

    def first() -> None:
        with lock.held("first"):
            release.wait()

    def later(n: int) -> None:
        with lock.held(n):
            order.append(n)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    while lock.holder != "first":
        time.sleep(0.001)
    for n in range(8):
        thread = threading.Thread(target=later, args=(n,))
        thread.start()
        threads.append(thread)
        while lock.queued < n + 1:  # each is waiting before the next asks
            time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert order == list(range(8))
    assert lock.holder is None and lock.queued == 0


def test_a_slow_listener_does_not_hold_the_model_from_another_satellite(assistant):
    """A's reply is read one piece per 50 ms (paced to its device's speaker); B asks
    just after A: B is answered in full long before A has read its reply."""
    lock = FairLock()
    a = SharedChat(assistant.llm, lock, owner="a")
    b = SharedChat(assistant.llm, lock, owner="b")
    question = [{"role": "user", "content": "How do I make a cup of tea?"}]
    done: dict[str, float] = {}

    def read(chat: SharedChat, name: str, pause: float) -> None:
        for _ in chat.stream_reply(question):
            time.sleep(pause)
        done[name] = time.perf_counter()

    slow = threading.Thread(target=read, args=(a, "a", 0.05))
    slow.start()
    while lock.holder != "a":
        time.sleep(0.001)
    read(b, "b", 0.0)
    slow.join(timeout=60)
    assert done["b"] < done["a"]


def test_cancel_stops_the_reply_and_frees_the_model(assistant):
    lock = FairLock()
    chat = SharedChat(assistant.llm, lock, owner="a")
    cancel = threading.Event()
    pieces = []
    with pytest.raises(Cancelled):  # as the model itself says it (turn.py expects it)
        for piece in chat.stream_reply([{"role": "user", "content": "Tell me a story."}], cancel):
            pieces.append(piece)
            if len(pieces) == 3:
                cancel.set()
    assert 3 <= len(pieces) < 20
    deadline = time.monotonic() + 5
    while lock.holder is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lock.holder is None


def test_a_failing_model_fails_the_reader_not_the_hub():
    """A model that fails mid-reply (its file gone, a remote server down) is a stand-in
    here: the real ones cannot be made to fail at a chosen token."""

    class Broken:
        description = "broken"
        prompt_opens_thought = False

        def stream_reply(self, messages, cancel=None, prefix=""):
            yield "Hel"
            raise ParleyError("the model file went away")

    lock = FairLock()
    chat = SharedChat(Broken(), lock, owner="a")  # type: ignore[arg-type]
    got = []
    with pytest.raises(ParleyError, match="went away"):
        for piece in chat.stream_reply([]):
            got.append(piece)
    assert got == ["Hel"]
    time.sleep(0.05)
    assert lock.holder is None
