"""The tool loop of a turn: the real starter model driven to call a tool by a llama.cpp
grammar (SmolLM2 has no tool template), and scripted backends for what a real model
cannot be made to do on demand (a malformed call, a call in pieces): those stand in
for a misbehaving model and are named as such."""

import pytest

from desktop.engine.events import Speech, Token, ToolUse
from desktop.engine.skills.skills import VoicePace


@pytest.fixture
def skilled(fresh):
    yield fresh
    fresh.skills.pace = VoicePace()
    for timer in fresh.skills.store.pending():
        fresh.skills.store.cancel(timer.id)


def test_the_starter_model_calls_a_tool_and_answers_with_its_result(skilled):
    events = []
    result = skilled.run_turn(
        text="Tell me what time it is here, please.",
        speak=True,
        on_event=events.append,
        tool_choice="required",
    )
    used = [e for e in events if isinstance(e, ToolUse)]
    assert used, "no tool was called"
    assert used[0].name in skilled.tools.tools
    assert not used[0].result.startswith("error"), used[0]
    assert result.tools[0]["name"] == used[0].name and result.tools[0]["result"] == used[0].result
    spoken = " ".join(e.text for e in events if isinstance(e, Speech))
    shown = "".join(e.text for e in events if isinstance(e, Token) and not e.reasoning)
    assert "<tool_call>" not in spoken and "<tool_call>" not in shown  # the call is never said
    assert result.reply and "tool_call" not in result.reply
    # The call is kept out of the history (SmolLM2 only repeated it when shown it); the
    # tool's answer is there. The 135M model's use of it is not judged here.
    roles = [m["role"] for m in skilled.messages]
    assert roles[-4:] == ["user", "assistant", "tool", "assistant"], roles
    assert skilled.messages[-2]["content"] == used[-1].result


class ScriptedModel:
    """Stands in for a chat model: each round yields the next scripted list of pieces."""

    description = "scripted"
    prompt_opens_thought = False
    supports_tools = True

    def __init__(self, *rounds):
        self.rounds = list(rounds)
        self.seen = []

    def fit_messages(self, messages):
        return list(messages), 0

    def stream_reply(self, messages, cancel=None, prefix="", tools=None, require_tool=False):
        self.seen.append((list(messages), tools))
        yield from self.rounds.pop(0)


def scripted_turn(skilled, model, **options):
    from desktop.engine.conversation.turn import Assistant

    assistant = Assistant(model, None, skilled.tts, "Be brief.", skills=skilled.skills)
    events = []
    result = assistant.run_turn(text="Hello?", speak=True, on_event=events.append, **options)
    return result, events, model


def test_a_call_in_pieces_is_held_back_run_and_answered(skilled):
    call = ['{"na', 'me": "start_ti', 'mer", "param', 'eters": {"seconds": 90}}']
    model = ScriptedModel(call, ["Your ", "timer ", "is ", "set."])
    result, events, _ = scripted_turn(skilled, model)
    shown = "".join(e.text for e in events if isinstance(e, Token))
    assert shown == "Your timer is set."  # the JSON was held back, never shown or spoken
    assert [(e.name, e.result) for e in events if isinstance(e, ToolUse)] == [
        ("start_timer", "Timer set for 1 minute and 30 seconds.")
    ]
    [timer] = skilled.skills.store.pending()
    assert timer.seconds == 90
    second_round = model.seen[1][0]
    assert second_round[-2]["tool_calls"][0]["function"]["name"] == "start_timer"
    assert second_round[-1] == {
        "role": "tool",
        "name": "start_timer",
        "content": "Timer set for 1 minute and 30 seconds.",
    }
    assert result.reply == "Your timer is set."


def test_a_malformed_call_goes_back_to_the_model_as_an_error(skilled):
    broken = ['<tool_call>{"name": "get_time", "arguments": {</tool_call>']
    model = ScriptedModel(broken, ["Sorry, ", "I could not check."])
    result, events, _ = scripted_turn(skilled, model)
    assert not result.cancelled and result.reply == "Sorry, I could not check."
    [error] = [e for e in events if isinstance(e, ToolUse)]
    assert error.result.startswith("error: the tool call is not valid JSON")
    assert model.seen[1][0][-1]["role"] == "tool"
    assert "error" in model.seen[1][0][-1]["content"]


def test_a_model_that_keeps_calling_must_answer_after_three_rounds(skilled):
    call = ['<tool_call>{"name": "get_time", "arguments": {}}</tool_call>']
    model = ScriptedModel(call, call, call, ["It is late."])
    result, events, _ = scripted_turn(skilled, model)
    assert len([e for e in events if isinstance(e, ToolUse)]) == 3
    assert model.seen[3][1] is None  # the last round offers no tools
    assert result.reply == "It is late."


def test_a_call_after_the_last_round_is_never_said(skilled):
    call = ['<tool_call>{"name": "get_time", "arguments": {}}</tool_call>']
    model = ScriptedModel(call, call, call, call)
    result, events, _ = scripted_turn(skilled, model)
    spoken = " ".join(e.text for e in events if isinstance(e, Speech))
    assert result.reply == "Sorry, I could not finish that." == spoken


def test_an_ordinary_reply_is_not_held(skilled):
    model = ScriptedModel(["{Curly} ", "braces ", "are fine."])
    result, events, _ = scripted_turn(skilled, model)
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert tokens == ["{Curly} ", "braces ", "are fine."] and result.tools == []


def test_a_reply_begun_ahead_runs_no_tool_if_the_user_goes_on(skilled):
    call = ['<tool_call>{"name": "start_timer", "arguments": {"seconds": 60}}</tool_call>']
    model = ScriptedModel(call, ["Done."])
    result, events, _ = scripted_turn(skilled, model, act_gate=lambda: False)
    assert result.cancelled
    assert [e for e in events if isinstance(e, ToolUse)] == []
    assert skilled.skills.store.pending() == []


def test_no_tools_for_a_model_without_a_tool_template(skilled):
    model = ScriptedModel(["Hi."])
    model.supports_tools = False
    scripted_turn(skilled, model)
    assert model.seen[0][1] is None
