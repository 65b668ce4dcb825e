"""A reply that may be a tool call: held back from the speaker while it could be one,
and the messages that carry calls and their results into the model's next round.

Why hold: a spoken ``<tool_call>{"name": ...`` is noise to the user. Only a reply
whose first characters could open a call (``<tool_call>``, ``{``, ...) is held;
an ordinary reply is let through from its first word, so speech starts as soon
as without tools.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop.engine.llm.tool_calls import (
    MalformedToolCallError,
    ToolCall,
    may_be_call,
    parse_tool_calls,
)

MAX_TOOL_ROUNDS = 3  # calls the model may make in one turn before it must answer
# Said when the model still only calls tools after MAX_TOOL_ROUNDS: never the call itself.
GAVE_UP = "Sorry, I could not finish that."


@dataclass(frozen=True)
class ToolRound:
    """What one round of the model wrote: calls to run, or a malformed call's error."""

    text: str
    calls: list[ToolCall]
    error: str = ""


class CallWatch:
    """Holds the start of a reply while it may be a tool call."""

    def __init__(self) -> None:
        self.text = ""  # the answer so far (not the reasoning)
        self.thought = ""
        self.holding = True
        self._held: list[tuple[bool, str]] = []

    def feed(self, pieces: list[tuple[bool, str]]) -> list[tuple[bool, str]]:
        """Pieces (is_reasoning, text) in; those that may go on to the user out."""
        out: list[tuple[bool, str]] = []
        for is_reasoning, text in pieces:
            if is_reasoning:
                self.thought += text
                out.append((is_reasoning, text))  # shown folded, never spoken
                continue
            self.text += text
            if not self.holding:
                out.append((is_reasoning, text))
                continue
            self._held.append((is_reasoning, text))
            if not may_be_call(self.text):
                self.holding = False
                out += self._held
                self._held = []
        return out

    def finish(self) -> tuple[ToolRound | None, list[tuple[bool, str]]]:
        """At the end of the round: the calls it made (or None), and what to let through."""
        source = self.text if self.holding else ""
        if not source.strip() and "<tool_call>" in self.thought:
            source = self.thought  # a reasoning model that called from inside <think>
        try:
            calls = parse_tool_calls(source) if source.strip() else []
        except MalformedToolCallError as exc:
            return ToolRound(source, [], str(exc)), []
        if calls:
            return ToolRound(source, calls), []
        held, self._held = self._held, []
        return None, held


def round_messages(round_: ToolRound, results: list[str], structured: bool) -> list[dict]:
    """The assistant's call and the tools' answers, as the next round's messages.
    ``structured``: the template takes ``tool_calls`` and the ``tool`` role. Otherwise
    the call is left out of the history (an empty assistant turn, then the answer in a
    ``tool`` turn): shown its own call text, a model without tool training (the starter
    SmolLM2) only wrote the call again."""
    if round_.error:
        return [
            {"role": "assistant", "content": round_.text if structured else ""},
            {"role": "tool", "content": f"error: {round_.error}. Write a valid call or answer."},
        ]
    if structured:
        call = {
            "role": "assistant",
            "content": "",
            "tool_calls": [c.to_message() for c in round_.calls],
        }
    else:
        call = {"role": "assistant", "content": ""}
    answers = [
        {"role": "tool", "name": c.name, "content": result}
        for c, result in zip(round_.calls, results, strict=True)
    ]
    return [call, *answers]
