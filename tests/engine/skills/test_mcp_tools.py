"""MCP tools through the official SDK, against a real MCP server process written in
the tests (mcp_notes_server.py): the user's yes before a call, no means not called,
and a server that hangs, crashes or answers garbage gives a clear message."""

import sys
from pathlib import Path

import pytest

from desktop.engine.skills import mcp_servers
from desktop.engine.skills.mcp_servers import McpServers
from desktop.engine.skills.toolbox import ToolBox
from desktop.engine.skills.tools import BuiltinTools

SERVER = f"{sys.executable} {Path(__file__).with_name('mcp_notes_server.py')}"


@pytest.fixture
def notes(tmp_path):
    return tmp_path / "notes.txt"


@pytest.fixture
def box(notes, fresh):
    servers = McpServers([f"{SERVER} --notes {notes}"])
    toolbox = ToolBox(BuiltinTools(fresh.skills), servers)
    yield toolbox
    toolbox.close()


def test_the_servers_tools_are_listed_under_its_name(box):
    assert box.mcp.failures == []
    assert set(box.mcp.tools) == {"notes_add_note", "notes_hang", "notes_crash"}
    assert box.mcp.tools["notes_add_note"].parameters["required"] == ["text"]


def test_without_anyone_to_ask_mcp_tools_are_not_offered(box, notes):
    names = [s["function"]["name"] for s in box.schemas()]
    assert "notes_add_note" not in names and "get_time" in names
    assert box.call("notes_add_note", {"text": "milk"}).startswith("error:")
    assert not notes.exists()


def test_no_means_the_tool_is_not_called(box, notes):
    asked = []
    box.approve = lambda server, tool, arguments: asked.append((server, tool, arguments)) or "no"
    assert "notes_add_note" in [s["function"]["name"] for s in box.schemas()]
    assert box.call("notes_add_note", {"text": "milk"}).startswith("error: the user said no")
    assert asked == [("notes", "add_note", {"text": "milk"})]
    assert not notes.exists()


def test_yes_calls_it_and_always_is_remembered(box, notes):
    answers = iter(["yes", "always"])
    kept = []
    box.approve = lambda server, tool, arguments: next(answers)
    box.on_always = kept.append
    assert box.call("notes_add_note", {"text": "milk"}) == "noted: milk"
    assert box.call("notes_add_note", {"text": "eggs"}) == "noted: eggs"
    assert box.call("notes_add_note", {"text": "bread"}) == "noted: bread"  # not asked again
    assert notes.read_text().split() == ["milk", "eggs", "bread"]
    assert kept == [("notes/add_note",)]


def test_a_hanging_tool_times_out_with_a_message(box, monkeypatch):
    monkeypatch.setattr(mcp_servers, "CALL_TIMEOUT_S", 2.0)
    box.approve = lambda *_: "yes"
    answer = box.call("notes_hang", {})
    assert answer.startswith("error: the MCP server notes did not answer in 2 s"), answer
    assert box.call("notes_add_note", {"text": "still here"}) == "noted: still here"


def test_a_crashing_server_gives_a_message_and_the_rest_goes_on(box):
    box.approve = lambda *_: "yes"
    answer = box.call("notes_crash", {})
    assert answer.startswith("error: the MCP server notes"), answer
    again = box.call("notes_add_note", {"text": "after"})
    assert again.startswith("error: the MCP server notes"), again
    assert box.call("get_time", {}).startswith("It's")  # the built-in tools still work


def test_a_server_that_answers_garbage_or_does_not_exist_is_named(notes, fresh, monkeypatch):
    monkeypatch.setattr(mcp_servers, "START_TIMEOUT_S", 5.0)
    good = f"{SERVER} --notes {notes}"
    servers = McpServers([f"{SERVER} --garbage", "no-such-mcp-server --flag", good])
    try:
        assert len(servers.failures) == 2, servers.failures
        assert all("could not start" in line for line in servers.failures)
        assert "notes_add_note" in servers.tools  # the good one works
    finally:
        servers.close()


def test_a_model_calls_an_mcp_tool_through_the_turn(box, notes, fresh):
    from desktop.engine.conversation.turn import Assistant
    from tests.engine.conversation.test_tool_loop import ScriptedModel

    call = ['<tool_call>{"name": "notes_add_note", "arguments": {"text": "milk"}}</tool_call>']
    model = ScriptedModel(call, ["I noted milk."])
    assistant = Assistant(model, None, None, "Be brief.", skills=fresh.skills)
    assistant.tools = box
    box.approve = lambda *_: "yes"
    result = assistant.run_turn(text="Note milk.")
    assert result.tools == [
        {"name": "notes_add_note", "arguments": {"text": "milk"}, "result": "noted: milk"}
    ]
    assert result.reply == "I noted milk." and notes.read_text() == "milk\n"
