"""The Qt side of the engine pipe: events from a worker thread reach the GUI thread."""

import sys
import threading

from desktop.config import Settings
from desktop.engine.events import Level, Token
from desktop.ui.bridge import EngineBridge


def test_events_from_another_thread_arrive_in_order_on_the_gui_thread(qtbot):
    bridge = EngineBridge(Settings())
    received, threads = [], set()

    def on_event(event):
        received.append(event)
        threads.add(threading.current_thread())

    bridge.event.connect(on_event)
    worker = threading.Thread(target=lambda: [bridge.event.emit(Token(str(i))) for i in range(500)])
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(received) == 500)
    assert [e.text for e in received] == [str(i) for i in range(500)]
    assert threads == {threading.main_thread()}


def test_emitting_does_not_leak_or_free_builtin_singletons(qtbot):
    # PySide6 6.12.0 released None/True/False once per emit; Python 3.11 then
    # aborted the app ("deallocating None") after a few thousand meter updates.
    bridge = EngineBridge(Settings())
    bridge.event.connect(lambda event: None)
    before = [sys.getrefcount(x) for x in (None, True, False)]
    for _ in range(2000):
        bridge.event.emit(Level(-20.0))
        bridge.event.emit(None)
    after = [sys.getrefcount(x) for x in (None, True, False)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [0, 0, 0]
