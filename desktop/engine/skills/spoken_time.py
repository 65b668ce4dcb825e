"""Times, dates and durations as a person says them, and clock times read back.

"It's twenty past nine", not "21:20:07": the answer is heard, not read. Reading
a clock time ("six", "6:30 pm", "half past seven", "quarter to ten tonight")
gives the next moment it names.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty"}
_ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
).split()


def number_words(n: int) -> str:
    """0-99 in words."""
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens * 10] + ("" if ones == 0 else f"-{_ONES[ones]}")


def ordinal_words(n: int) -> str:
    """1-31 as an ordinal: 'sixth', 'twenty-first'."""
    if n <= 20:
        return _ORDINALS[n - 1]
    tens, ones = divmod(n, 10)
    if ones == 0:
        return _TENS[tens * 10][:-1] + "ieth"
    return f"{_TENS[tens * 10]}-{_ORDINALS[ones - 1]}"


def _hour_words(hour24: int) -> str:
    return number_words(hour24 % 12 or 12)


def _part_of_day(hour24: int) -> str:
    if hour24 < 5 or hour24 >= 22:
        return "at night"
    if hour24 < 12:
        return "in the morning"
    if hour24 < 18:
        return "in the afternoon"
    return "in the evening"


def clock_words(moment: datetime, part_of_day: bool = False) -> str:
    """'twenty past nine', 'quarter to ten', 'nine o'clock'; with the part of the day
    on request ('six o'clock in the evening'). Noon and midnight by name."""
    hour, minute = moment.hour, moment.minute
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "noon"
    if minute == 0:
        words = f"{_hour_words(hour)} o'clock"
    elif minute <= 30:
        words = f"{_minutes_words(minute)} past {_hour_words(hour)}"
    else:
        words = f"{_minutes_words(60 - minute)} to {_hour_words(hour + 1)}"
        hour = (hour + 1) % 24
    return f"{words} {_part_of_day(hour)}" if part_of_day else words


def _minutes_words(minutes: int) -> str:
    if minutes == 15:
        return "quarter"
    if minutes == 30:
        return "half"
    words = number_words(minutes)
    return words if minutes % 5 == 0 else f"{words} minute{'s' if minutes > 1 else ''}"


def say_time(now: datetime) -> str:
    return f"It's {clock_words(now)}."


def say_date(now: datetime) -> str:
    return f"It's {now:%A}, the {ordinal_words(now.day)} of {now:%B}, {now.year}."


def say_duration(seconds: float) -> str:
    """'1 hour and 20 minutes', '45 seconds': whole seconds, the units that are not 0."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value} {unit}{'s' if value != 1 else ''}"
        for value, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second"))
        if value
    ]
    if not parts:
        return "no time"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


_WORD_NUMBERS = {number_words(n): n for n in range(60)}
_WORD_NUMBERS.update({w.replace("-", " "): n for w, n in list(_WORD_NUMBERS.items())})
_WORD_NUMBERS.update({"oh five": 5, "o'clock": 0, "oclock": 0})
_EVENING = ("pm", "p.m.", "p.m", "in the evening", "in the afternoon", "tonight", "at night")
_MORNING = ("am", "a.m.", "a.m", "in the morning", "this morning")


def _number(words: str) -> int | None:
    words = words.strip()
    if words.isdigit():
        return int(words)
    return _WORD_NUMBERS.get(words)


def parse_clock(text: str, now: datetime) -> datetime | None:
    """The next moment after ``now`` that ``text`` names as a clock time, or None.

    An hour without am/pm is the sooner of its two: "six" at 2 pm is 6 pm.
    """
    text = re.sub(r"\s+", " ", text.lower().strip(" .,!?"))
    if text in ("noon", "midday"):
        return _next(now, 12, 0, fixed=True)
    if text == "midnight":
        return _next(now, 0, 0, fixed=True)
    half = None
    for suffix in _EVENING + _MORNING:
        if text.endswith(" " + suffix) or text.endswith(suffix) and text[: -len(suffix)].strip():
            half = "pm" if suffix in _EVENING else "am"
            text = text[: -len(suffix)].strip()
            break
    hour = minute = None
    if m := re.fullmatch(r"(\d{1,2})[:.](\d{2})", text):
        hour, minute = int(m[1]), int(m[2])
    elif m := re.fullmatch(r"(quarter|half|[\w -]+?) (past|after|to) ([\w-]+)", text):
        base = _number(m[3])
        amount = {"quarter": 15, "half": 30}.get(m[1]) or _number(m[1].removesuffix(" minutes"))
        if base is None or amount is None or not 1 <= base <= 12:
            return None
        hour, minute = (base, amount) if m[2] != "to" else (base - 1, 60 - amount)
    else:
        words = text.removesuffix(" o'clock").removesuffix(" oclock").split(" ", 1)
        hour = _number(words[0])
        minute = _number(words[1]) if len(words) > 1 else 0
    if hour is None or minute is None or not 0 <= minute < 60 or not 0 <= hour < 24:
        return None
    if half == "pm" and hour < 12:
        hour += 12
    elif half == "am" and hour == 12:
        hour = 0
    return _next(now, hour, minute, fixed=half is not None or hour == 0 or hour > 12)


def _next(now: datetime, hour: int, minute: int, fixed: bool) -> datetime:
    """The first time after now at hour:minute (or, if not fixed, 12 hours later too)."""
    candidates = [hour] if fixed else [hour % 12, hour % 12 + 12]
    best = None
    for h in candidates:
        moment = now.replace(hour=h, minute=minute, second=0, microsecond=0)
        if moment <= now:
            moment += timedelta(days=1)
        best = moment if best is None or moment < best else best
    return best
