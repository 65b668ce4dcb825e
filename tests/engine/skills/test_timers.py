"""The timers file and the clock that rings it: real SQLite files, real threads.
Waits have generous limits (a busy machine); none is a performance threshold."""

import multiprocessing
import threading
import time

from desktop.engine.skills.timers import TimerClock, TimerStore


def collect():
    rung, event = [], threading.Event()

    def on_ring(timer, late_s):
        rung.append((timer, late_s, time.time()))
        event.set()

    return rung, event, on_ring


def test_a_timer_rings_once_at_its_second(tmp_path):
    store = TimerStore(tmp_path / "timers.db")
    rung, event, on_ring = collect()
    clock = TimerClock(store, on_ring)
    clock.start()
    try:
        timer = store.add("timer", 1.5, name="tea")
        clock.changed()
        assert event.wait(15), "the timer never rang"
        time.sleep(0.5)
    finally:
        clock.stop()
    assert len(rung) == 1
    got, late, at = rung[0]
    assert got.id == timer.id and got.name == "tea"
    assert at >= timer.due and late >= 0
    assert store.pending() == []


def test_a_cancelled_timer_never_rings(tmp_path):
    store = TimerStore(tmp_path / "timers.db")
    rung, event, on_ring = collect()
    clock = TimerClock(store, on_ring)
    clock.start()
    try:
        timer = store.add("timer", 1.0)
        assert store.cancel(timer.id)
        assert not store.cancel(timer.id)  # already cancelled
        assert not event.wait(2.5)
    finally:
        clock.stop()
    assert rung == []


def test_several_timers_ring_in_order_and_only_for_the_devices_served(tmp_path):
    store = TimerStore(tmp_path / "timers.db")
    rung, _event, on_ring = collect()
    clock = TimerClock(store, on_ring)  # this computer's: device ""
    clock.start()
    try:
        second = store.add("timer", 2.0, name="second")
        first = store.add("timer", 1.0, name="first")
        glasses = store.add("timer", 0.5, device="tcp://glasses:10700")
        deadline = time.time() + 15
        while len(rung) < 2 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        clock.stop()
    assert [t.id for t, _, _ in rung] == [first.id, second.id]
    assert [t.id for t in store.pending()] == [glasses.id]  # left for the hub's clock


def test_timers_survive_the_process_and_a_missed_one_rings_at_the_next_start(tmp_path):
    path = tmp_path / "timers.db"
    TimerStore(path).add("reminder", -120.0, message="take your pills")  # due 2 min ago
    rung, event, on_ring = collect()
    clock = TimerClock(TimerStore(path), on_ring)  # a new process's store and clock
    clock.start()
    try:
        assert event.wait(10)
    finally:
        clock.stop()
    timer, late, _ = rung[0]
    assert timer.message == "take your pills" and late >= 120


def _race(path, results):
    store = TimerStore(path)
    results.put([store.claim(t.id) for t in store.pending()])


def test_two_processes_claiming_the_same_timers_ring_each_once(tmp_path):
    path = tmp_path / "timers.db"
    store = TimerStore(path)
    for n in range(20):
        store.add("timer", -1.0, name=f"t{n}")
    results = multiprocessing.get_context("spawn").Queue()
    workers = [
        multiprocessing.get_context("spawn").Process(target=_race, args=(path, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    claims = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    won = [c for worker_claims in claims for c in worker_claims if c]
    assert len(won) == 20  # each timer claimed by exactly one of the two


def test_an_unwritable_timers_file_is_a_clear_error(tmp_path):
    import pytest

    from desktop.errors import ParleyError

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(ParleyError, match="cannot open the timers file"):
        TimerStore(blocked / "timers.db")
