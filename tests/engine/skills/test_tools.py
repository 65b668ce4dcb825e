"""Parley's intents as tools: the same answers as when asked in words."""

from datetime import datetime

import pytest

from desktop.engine.skills.matcher import IntentMatcher
from desktop.engine.skills.skills import Skills, VoicePace
from desktop.engine.skills.timers import TimerStore
from desktop.engine.skills.tools import BuiltinTools


@pytest.fixture
def tools(tmp_path):
    skills = Skills(
        TimerStore(tmp_path / "timers.db"),
        VoicePace(),
        matcher=IntentMatcher(),
        now=lambda: datetime(2026, 12, 6, 9, 20),
    )
    return BuiltinTools(skills)


def test_the_schemas_name_every_tool(tools):
    names = [s["function"]["name"] for s in tools.schemas()]
    assert names == [
        "get_time",
        "get_date",
        "start_timer",
        "timers_left",
        "cancel_timer",
        "set_reminder",
    ]
    assert all(s["function"]["parameters"]["type"] == "object" for s in tools.schemas())


def test_tools_answer_as_the_intents_do(tools):
    assert tools.call("get_time", {}) == "It's twenty past nine."
    assert tools.call("start_timer", {"seconds": 300, "name": "pasta"}) == (
        "Pasta timer set for 5 minutes."
    )
    assert len(tools.skills.store.pending()) == 1
    assert "left on the pasta timer" in tools.call("timers_left", {})
    assert tools.call("cancel_timer", {"name": "pasta"}) == "Cancelled the pasta timer."
    assert tools.call("set_reminder", {"time": "18:30", "message": "call Anna"}) == (
        "I'll remind you at half past six in the evening to call Anna."
    )


def test_bad_calls_give_an_error_the_model_can_read(tools):
    assert tools.call("open_the_pod_bay_doors", {}).startswith("error: there is no tool")
    assert tools.call("set_reminder", {"time": "whenever", "message": "x"}).startswith("error:")
    assert "24 hours" in tools.call("start_timer", {"seconds": 10**7})
    assert tools.skills.store.pending() == []
