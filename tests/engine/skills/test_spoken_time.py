"""Times said as a person says them, and clock times read back."""

from datetime import datetime

import pytest

from desktop.engine.skills.spoken_time import (
    clock_words,
    number_words,
    ordinal_words,
    parse_clock,
    say_date,
    say_duration,
    say_time,
)


@pytest.mark.parametrize(
    ("hour", "minute", "said"),
    [
        (9, 20, "It's twenty past nine."),
        (21, 20, "It's twenty past nine."),
        (9, 15, "It's quarter past nine."),
        (9, 30, "It's half past nine."),
        (9, 45, "It's quarter to ten."),
        (9, 7, "It's seven minutes past nine."),
        (9, 59, "It's one minute to ten."),
        (9, 0, "It's nine o'clock."),
        (12, 0, "It's noon."),
        (0, 0, "It's midnight."),
        (23, 40, "It's twenty to twelve."),
    ],
)
def test_the_time_is_said_naturally(hour, minute, said):
    assert say_time(datetime(2026, 12, 6, hour, minute, 41)) == said


def test_the_date_and_words():
    assert say_date(datetime(2026, 12, 6)) == "It's Sunday, the sixth of December, 2026."
    assert say_date(datetime(2027, 1, 21)).startswith("It's Thursday, the twenty-first of")
    assert [number_words(n) for n in (0, 13, 20, 42)] == ["zero", "thirteen", "twenty", "forty-two"]
    assert [ordinal_words(n) for n in (1, 12, 22, 30, 31)] == [
        "first",
        "twelfth",
        "twenty-second",
        "thirtieth",
        "thirty-first",
    ]


def test_durations():
    assert say_duration(5) == "5 seconds"
    assert say_duration(60) == "1 minute"
    assert say_duration(4810) == "1 hour, 20 minutes and 10 seconds"
    assert say_duration(0.4) == "no time"


NOW = datetime(2026, 12, 6, 14, 7)  # a Sunday afternoon


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("six", datetime(2026, 12, 6, 18, 0)),  # the sooner six
        ("6:30 pm", datetime(2026, 12, 6, 18, 30)),
        ("6.30", datetime(2026, 12, 6, 18, 30)),
        ("half past seven", datetime(2026, 12, 6, 19, 30)),
        ("quarter to ten tonight", datetime(2026, 12, 6, 21, 45)),
        ("twenty past 9 in the morning", datetime(2026, 12, 7, 9, 20)),
        ("six thirty", datetime(2026, 12, 6, 18, 30)),
        ("18:00", datetime(2026, 12, 6, 18, 0)),
        ("5 am", datetime(2026, 12, 7, 5, 0)),
        ("2", datetime(2026, 12, 7, 2, 0)),  # 2 pm has passed: 2 at night comes first
        ("noon", datetime(2026, 12, 7, 12, 0)),
        ("seven o'clock", datetime(2026, 12, 6, 19, 0)),
    ],
)
def test_clock_times_are_read_as_the_next_moment_they_name(text, expected):
    assert parse_clock(text, NOW) == expected


@pytest.mark.parametrize("text", ["some point", "the end of the day", "25:00", "six seventy", ""])
def test_what_is_not_a_clock_time_is_none(text):
    assert parse_clock(text, NOW) is None


def test_clock_words_with_the_part_of_the_day():
    assert clock_words(datetime(2026, 1, 1, 18, 30), True) == "half past six in the evening"
    assert clock_words(datetime(2026, 1, 1, 7, 0), True) == "seven o'clock in the morning"
