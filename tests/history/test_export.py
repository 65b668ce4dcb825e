"""Exports read back: Markdown for people, JSON that round-trips every field."""

import json

import pytest

from desktop.engine.events import TurnResult
from desktop.history.export import export, to_markdown
from desktop.history.store import HistoryStore


@pytest.fixture
def saved(tmp_path):
    store = HistoryStore(tmp_path / "h.db")
    chat = store.add_turn(
        None, TurnResult("Why is the sky blue?", "Rayleigh scattering.", "", {}, {})
    )
    store.add_turn(
        chat, TurnResult("Think first: 2+2?", "4", "Two and two make four.", {"total_ms": 9.0}, {})
    )
    store.add_turn(chat, TurnResult("Tell me a story", "Once", "", {}, {}, cancelled=True))
    yield store.get(chat)
    store.close()


def test_markdown_has_every_turn_in_order(saved):
    text = to_markdown(saved)
    assert text.startswith("# Why is the sky blue?\n")
    order = [text.index(s) for s in ("Why is the sky", "Rayleigh", "2+2?", "Two and two", "Once")]
    assert order == sorted(order)
    assert "> Two and two make four." in text, "reasoning is quoted apart from the answer"
    assert "_(stopped)_" in text
    assert text.count("**You:**") == 3


def test_json_round_trips(saved):
    data = json.loads(export(saved, "json"))
    assert data["title"] == saved.title
    assert [t["question"] for t in data["turns"]] == [t.question for t in saved.turns]
    assert data["turns"][1]["reasoning"] == "Two and two make four."
    assert data["turns"][1]["timings"] == {"total_ms": 9.0}
    assert data["turns"][2]["cancelled"] is True


def test_unknown_format(saved):
    with pytest.raises(ValueError, match="md, json"):
        export(saved, "pdf")


def test_tool_calls_are_in_the_markdown(tmp_path):
    store = HistoryStore(tmp_path / "t.db")
    call = {"name": "start_timer", "arguments": {"seconds": 90}, "result": "Timer set."}
    chat = store.add_turn(None, TurnResult("Pasta?", "Set.", "", {}, {}, tools=[call]))
    text = to_markdown(store.get(chat))
    store.close()
    assert "> _Tool:_ `start_timer(seconds=90) → Timer set.`" in text
