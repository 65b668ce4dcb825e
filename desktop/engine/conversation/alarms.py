"""Timers and reminders ringing in whatever runs the assistant (the voice loop, the
terminal, the hub): one clock per front, ringing the timers of its device."""

from __future__ import annotations

import time
from collections.abc import Callable

from desktop.engine.conversation.turn import Assistant
from desktop.engine.skills.timers import Timer, TimerClock

RingHandler = Callable[[Timer, float], None]


def start_timer_clock(assistant: Assistant, on_ring: RingHandler) -> TimerClock | None:
    """Ring ``assistant``'s device's timers through ``on_ring(timer, late_s)``; None when
    it has no local intents."""
    skills = assistant.skills
    if skills is None:
        return None
    device = assistant.device
    clock = TimerClock(skills.store, on_ring, devices=lambda d: d == device)
    skills.timer_listeners.append(clock.changed)
    clock.start()
    return clock


def stop_timer_clock(assistant: Assistant, clock: TimerClock | None) -> None:
    if clock is None:
        return
    clock.stop()
    if assistant.skills is not None and clock.changed in assistant.skills.timer_listeners:
        assistant.skills.timer_listeners.remove(clock.changed)


def due_on_perf_clock(timer: Timer) -> float:
    """The timer's due moment as a ``time.perf_counter()`` value, to time the chime."""
    return time.perf_counter() - (time.time() - timer.due)
