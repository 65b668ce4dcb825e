"""Tool calls in a model's output, in the formats the catalog's chat templates teach.

- Qwen2.5, QwQ, DeepSeek-R1 distills of Qwen and Hermes-style templates:
  ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, one or more.
- Llama 3.1-3.3: the whole reply is ``{"name": ..., "parameters": {...}}``,
  sometimes after ``<|python_tag|>``.
- Phi-4-mini: ``<|tool_call|>[{"name": ..., "arguments": {...}}]<|/tool_call|>``.

A reply that starts like a call is held back from the speaker (``may_be_call``)
until it is known; one that is a call in form but not valid JSON raises
``MalformedToolCallError``, whose message goes back to the model as the tool's answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# How calls begin, without whitespace: a reply is held while it could be one of these.
_OPENERS = ("<tool_call>", "<|tool_call|>", "<|python_tag|>", '{"name"', '[{"name"')
_TAGGED = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_PHI = re.compile(r"<\|tool_call\|>(.*?)(?:<\|/tool_call\|>|$)", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict = field(default_factory=dict)

    def to_message(self) -> dict:
        """As an assistant message's ``tool_calls`` entry (OpenAI's shape, which the
        templates read: ``tool_call.function.name`` / ``.arguments``)."""
        return {"type": "function", "function": {"name": self.name, "arguments": self.arguments}}


class MalformedToolCallError(ValueError):
    """The model began a tool call and did not write a valid one."""


def may_be_call(text: str) -> bool:
    """Whether ``text``, the start of a reply, could still turn out to be a tool call."""
    start = re.sub(r"\s+", "", text)[:16]
    return any(opener.startswith(start) or start.startswith(opener) for opener in _OPENERS)


def parse_tool_calls(text: str) -> list[ToolCall]:
    """The tool calls ``text`` is made of; [] for an ordinary reply."""
    stripped = text.strip()
    if "<tool_call>" in stripped:
        return [_one(body) for body in _TAGGED.findall(stripped)]
    if "<|tool_call|>" in stripped:
        calls: list[ToolCall] = []
        for body in _PHI.findall(stripped):
            calls += _many(body)
        return calls
    stripped = stripped.removeprefix("<|python_tag|>").strip()
    if stripped.startswith("{") and '"name"' in stripped:
        return [_one(stripped)]
    if stripped.startswith("[{") and '"name"' in stripped:
        return _many(stripped)
    return []


def _load(body: str) -> object:
    try:
        return json.loads(body.strip())
    except json.JSONDecodeError as exc:
        raise MalformedToolCallError(
            f"the tool call is not valid JSON ({exc.msg}): {body.strip()[:200]}"
        ) from None


def _many(body: str) -> list[ToolCall]:
    data = _load(body)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise MalformedToolCallError("a tool call must be an object with a name and arguments")
    return [_call(item) for item in data]


def _one(body: str) -> ToolCall:
    return _call(_load(body))


def _call(data: object) -> ToolCall:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        raise MalformedToolCallError('a tool call needs a "name" (a string)')
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string
        arguments = _load(arguments) if arguments.strip() else {}
    if not isinstance(arguments, dict):
        raise MalformedToolCallError(f"the arguments of {data['name']} must be an object")
    return ToolCall(data["name"], arguments)
