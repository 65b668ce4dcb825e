"""Answers to the intents Parley handles itself, in well under 50 ms and without the LLM.

``Skills.answer`` turns a transcript into a ``SkillReply`` (the words to say, and
what changed) or None, and the turn goes to the chat model as before. It knows
nothing of audio: the turn speaks the reply, applies a new voice pace, and the
front that runs the engine keeps the settings.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from desktop.engine.skills.matcher import IntentMatch, IntentMatcher
from desktop.engine.skills.spoken_time import (
    clock_words,
    parse_clock,
    say_date,
    say_duration,
    say_time,
)
from desktop.engine.skills.timers import MAX_TIMER_S, Timer, TimerStore

RATE_STEP = 1.2  # each "slower" or "faster" changes the pace by this factor
RATE_LIMITS = (0.5, 2.0)
GAIN_STEP_DB = 3.0
GAIN_LIMITS_DB = (-18.0, 9.0)


@dataclass(frozen=True)
class SkillReply:
    """What an intent answers. ``text`` may be empty (stop, never mind): nothing is said.
    ``settings`` holds the settings it changed (voice_rate, voice_gain_db). ``act`` does
    what the words promise (sets the timer): run by ``answer``, or, for a reply begun
    before the user has finished, only once they have (the voice loop's ReplyAhead)."""

    intent: str
    text: str
    settings: dict[str, float] = field(default_factory=dict)
    stop: bool = False
    act: Callable[[], None] | None = None


# Intents whose reply may be written and voiced before the endpoint (their act waits
# for it): all but those that change the voice the reply is spoken in.
_CHANGE_THE_VOICE = (
    "ParleyVoiceSlower",
    "ParleyVoiceFaster",
    "ParleyVoiceLouder",
    "ParleyVoiceQuieter",
)


@dataclass
class VoicePace:
    """How fast and loud the voice speaks: kept in the settings."""

    rate: float = 1.0
    gain_db: float = 0.0


class Skills:
    """The intents of one engine: the matcher, the timers file, the voice's pace."""

    def __init__(
        self,
        store: TimerStore,
        pace: VoicePace | None = None,
        matcher: IntentMatcher | None = None,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.matcher = matcher or IntentMatcher()
        self.store = store
        self.pace = pace or VoicePace()
        self.now = now  # the device's clock, in its time zone
        # Told when this process adds or cancels a timer: each front's TimerClock.
        self.timer_listeners: list[Callable[[], None]] = []

    def _timers_changed(self) -> None:
        for listener in list(self.timer_listeners):
            listener()

    def may_answer_ahead(self, text: str) -> bool:
        """Whether a reply to ``text`` may be begun before the user has finished: no
        intent, or one whose act can wait for the endpoint."""
        match = self.matcher.match(text)
        return match is None or match.name not in _CHANGE_THE_VOICE

    def answer(
        self, text: str, *, last_reply: str = "", device: str = "", act_now: bool = True
    ) -> SkillReply | None:
        """The reply to ``text`` if it asks for an intent Parley handles; else None.
        With ``act_now`` its act is done before returning (and the reply has none left)."""
        match = self.matcher.match(text)
        if match is None:
            return None
        reply = self.handle(match, last_reply=last_reply, device=device)
        if reply is not None and act_now and reply.act is not None:
            reply.act()
            reply = dataclasses.replace(reply, act=None)
        return reply

    def handle(
        self, match: IntentMatch, *, last_reply: str = "", device: str = ""
    ) -> SkillReply | None:
        """The reply to an intent already matched (by words, or by a tool call); its act
        not yet done. None for an intent Parley does not handle or unusable slots."""
        handler = getattr(self, f"_{match.name}", None)
        if handler is None:
            return None
        return handler(match, last_reply=last_reply, device=device)

    # The time and the date

    def _HassGetCurrentTime(self, match: IntentMatch, **_: str) -> SkillReply:  # noqa: N802
        return SkillReply(match.name, say_time(self.now()))

    def _HassGetCurrentDate(self, match: IntentMatch, **_: str) -> SkillReply:  # noqa: N802
        return SkillReply(match.name, say_date(self.now()))

    # Timers

    def _HassStartTimer(self, match: IntentMatch, *, device: str, **_: str) -> SkillReply:  # noqa: N802
        seconds = (
            _number(match.values.get("hours")) * 3600
            + _number(match.values.get("minutes")) * 60
            + _number(match.values.get("seconds"))
        )
        if not 1 <= seconds <= MAX_TIMER_S:
            return SkillReply(match.name, "I can set timers from one second to 24 hours.")
        name = str(match.values.get("name", "")).strip().lower()
        what = f"{name.capitalize()} timer" if name else "Timer"
        return SkillReply(
            match.name,
            f"{what} set for {say_duration(seconds)}.",
            act=lambda: self._add("timer", seconds, name=name, device=device),
        )

    def _add(self, kind: str, seconds: float, **details: object) -> None:
        self.store.add(kind, seconds, **details)  # type: ignore[arg-type]
        self._timers_changed()

    def _cancel(self, timers: list[Timer]) -> None:
        for timer in timers:
            self.store.cancel(timer.id)
        self._timers_changed()

    def _timers(self, device: str) -> list[Timer]:
        return [t for t in self.store.pending(device) if t.kind == "timer"]

    def _chosen(self, match: IntentMatch, device: str) -> list[Timer]:
        """The timers a request names (by name or by the duration set), else all."""
        timers = self._timers(device)
        name = str(match.values.get("name", "")).strip().lower()
        if name:
            return [t for t in timers if t.name == name]
        asked = (
            _number(match.values.get("start_hours")) * 3600
            + _number(match.values.get("start_minutes")) * 60
            + _number(match.values.get("start_seconds"))
        )
        if asked:
            return [t for t in timers if abs(t.seconds - asked) < 1]
        return timers

    def _HassCancelTimer(self, match: IntentMatch, *, device: str, **_: str) -> SkillReply:  # noqa: N802
        chosen = self._chosen(match, device)
        if not chosen:
            return SkillReply(match.name, "There is no such timer.")
        if len(chosen) > 1:
            names = _list(_timer_words(t) for t in chosen)
            return SkillReply(match.name, f"You have {len(chosen)} timers: {names}. Which one?")
        return SkillReply(
            match.name,
            f"Cancelled the {_timer_words(chosen[0])}.",
            act=lambda: self._cancel(chosen),
        )

    def _HassCancelAllTimers(self, match: IntentMatch, *, device: str, **_: str) -> SkillReply:  # noqa: N802
        timers = self._timers(device)
        if not timers:
            return SkillReply(match.name, "There are no timers.")
        return SkillReply(
            match.name,
            f"Cancelled {_count(len(timers), 'timer')}.",
            act=lambda: self._cancel(timers),
        )

    def _HassTimerStatus(self, match: IntentMatch, *, device: str, **_: str) -> SkillReply:  # noqa: N802
        chosen = self._chosen(match, device)
        if not chosen:
            return SkillReply(match.name, "There are no timers.")
        now = time.time()
        parts = [f"{say_duration(t.left(now))} left on the {_timer_words(t)}" for t in chosen[:3]]
        more = f", and {_count(len(chosen) - 3, 'more timer')}" if len(chosen) > 3 else ""
        return SkillReply(match.name, _list(parts).capitalize() + more + ".")

    # Reminders

    def _ParleyRemind(self, match: IntentMatch, *, device: str, **_: str) -> SkillReply | None:  # noqa: N802
        now = self.now()
        when = parse_clock(str(match.values.get("clock", "")), now)
        if when is None:
            return None  # "remind me to call at some point": the chat model's turn
        message = _second_person(str(match.values.get("message", "")).strip().rstrip(".!?"))
        day = "" if when.date() == now.date() else " tomorrow"
        return SkillReply(
            match.name,
            f"I'll remind you at {clock_words(when, True)}{day} to {message}.",
            act=lambda: self._add(
                "reminder",
                (when - now).total_seconds(),
                message=message,
                device=device,
                due=when.timestamp(),
            ),
        )

    def _ParleyCancelReminder(self, match: IntentMatch, *, device: str, **_: str) -> SkillReply:  # noqa: N802
        reminders = [t for t in self.store.pending(device) if t.kind == "reminder"]
        if not reminders:
            return SkillReply(match.name, "There are no reminders.")
        return SkillReply(
            match.name,
            f"Cancelled {_count(len(reminders), 'reminder')}.",
            act=lambda: self._cancel(reminders),
        )

    # The conversation and the voice

    def _ParleyRepeat(self, match: IntentMatch, *, last_reply: str, **_: str) -> SkillReply:  # noqa: N802
        return SkillReply(match.name, last_reply or "I haven't said anything yet.")

    def _ParleyStop(self, match: IntentMatch, **_: str) -> SkillReply:  # noqa: N802
        return SkillReply(match.name, "", stop=True)

    _HassNevermind = _ParleyStop

    def _ParleyVoiceSlower(self, match: IntentMatch, **_: str) -> SkillReply:  # noqa: N802
        return self._pace(match.name, rate=self.pace.rate / RATE_STEP)

    def _ParleyVoiceFaster(self, match: IntentMatch, **_: str) -> SkillReply:  # noqa: N802
        return self._pace(match.name, rate=self.pace.rate * RATE_STEP)

    def _ParleyVoiceLouder(self, match: IntentMatch, **_: str) -> SkillReply:  # noqa: N802
        return self._pace(match.name, gain_db=self.pace.gain_db + GAIN_STEP_DB)

    def _ParleyVoiceQuieter(self, match: IntentMatch, **_: str) -> SkillReply:  # noqa: N802
        return self._pace(match.name, gain_db=self.pace.gain_db - GAIN_STEP_DB)

    def _pace(
        self, intent: str, rate: float | None = None, gain_db: float | None = None
    ) -> SkillReply:
        if rate is not None:
            new = round(min(max(rate, RATE_LIMITS[0]), RATE_LIMITS[1]), 3)
            if new == self.pace.rate:
                limit = "slowest" if rate < self.pace.rate else "fastest"
                return SkillReply(intent, f"This is already my {limit}.")
            slower = new < self.pace.rate
            self.pace.rate = new
            return SkillReply(
                intent,
                f"Okay, I'll speak {'more slowly' if slower else 'faster'}.",
                {"voice_rate": new},
            )
        assert gain_db is not None
        new = min(max(gain_db, GAIN_LIMITS_DB[0]), GAIN_LIMITS_DB[1])
        if new == self.pace.gain_db:
            limit = "quietest" if gain_db < self.pace.gain_db else "loudest"
            return SkillReply(intent, f"This is already my {limit}.")
        louder = new > self.pace.gain_db
        self.pace.gain_db = new
        return SkillReply(
            intent,
            f"Okay, I'll speak {'louder' if louder else 'more quietly'}.",
            {"voice_gain_db": new},
        )


def ring_words(timer: Timer, late_s: float) -> str:
    """What Parley says when a timer or reminder rings."""
    if timer.kind == "reminder":
        words = f"Reminder: {timer.message}."
    else:
        words = f"Your {_timer_words(timer)} is done."
    if late_s >= 60:
        words += f" It was due {say_duration(late_s)} ago, while Parley was not running."
    return words


def _timer_words(timer: Timer) -> str:
    if timer.name:
        return f"{timer.name} timer"
    return f"{say_duration(timer.seconds)} timer".replace("s timer", " timer")


def _number(value: object) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _list(items: object) -> str:
    items = list(items)  # type: ignore[call-overload]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_PERSON = {
    "my": "your",
    "me": "you",
    "i": "you",
    "mine": "yours",
    "myself": "yourself",
    "i'm": "you're",
}


def _second_person(message: str) -> str:
    """'take my pills' -> 'take your pills': the reminder is said back to the user."""
    return " ".join(_PERSON.get(word.lower(), word) for word in message.split())
