"""Parley's intents as tools a chat model may call (get_time, start_timer, ...).

A model whose chat template takes tools is shown these JSON schemas; when it calls
one, the same intent code answers as when the user asked in words, and its words
("Timer set for 5 minutes.") are the tool's result. Built-in tools only read the
clock or set timers the user asked for, so they run without asking (MCP tools,
which may do anything, will need the user's yes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from desktop.engine.skills.matcher import IntentMatch
from desktop.engine.skills.skills import Skills


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict  # JSON schema of the arguments
    run: Callable[[dict], str]

    def schema(self) -> dict:
        """As chat templates and the OpenAI API expect a tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def _object(properties: dict | None = None, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties or {}, "required": list(required)}


class BuiltinTools:
    """The intents as tools, over one ``Skills`` (its timers file, its clock)."""

    def __init__(self, skills: Skills, device: str = "") -> None:
        self.skills = skills
        self.device = device
        self.tools = {
            tool.name: tool
            for tool in (
                Tool(
                    "get_time",
                    "The current time on this device.",
                    _object(),
                    lambda a: self._intent("HassGetCurrentTime"),
                ),
                Tool(
                    "get_date",
                    "Today's date on this device.",
                    _object(),
                    lambda a: self._intent("HassGetCurrentDate"),
                ),
                Tool(
                    "start_timer",
                    "Start a timer that rings after the given number of seconds.",
                    _object(
                        {
                            "seconds": {"type": "integer", "description": "1 to 86400"},
                            "name": {"type": "string", "description": "optional, e.g. pasta"},
                        },
                        ("seconds",),
                    ),
                    lambda a: self._intent(
                        "HassStartTimer", seconds=a.get("seconds"), name=a.get("name", "")
                    ),
                ),
                Tool(
                    "timers_left",
                    "How long is left on each timer.",
                    _object(),
                    lambda a: self._intent("HassTimerStatus"),
                ),
                Tool(
                    "cancel_timer",
                    "Cancel a timer, by its name if it has one.",
                    _object({"name": {"type": "string"}}),
                    lambda a: self._intent("HassCancelTimer", name=a.get("name", "")),
                ),
                Tool(
                    "set_reminder",
                    "Remind the user at a clock time today or tomorrow.",
                    _object(
                        {
                            "time": {"type": "string", "description": "e.g. 18:30 or 6 pm"},
                            "message": {"type": "string", "description": "what to remind of"},
                        },
                        ("time", "message"),
                    ),
                    lambda a: self._intent(
                        "ParleyRemind", clock=a.get("time", ""), message=a.get("message", "")
                    ),
                ),
            )
        }

    def schemas(self) -> list[dict]:
        return [tool.schema() for tool in self.tools.values()]

    def call(self, name: str, arguments: dict) -> str:
        """The tool's result as text; an unknown tool or bad arguments say so (the
        model reads the error and may try again), never raise."""
        tool = self.tools.get(name)
        if tool is None:
            return f"error: there is no tool called {name!r}; the tools are {', '.join(self.tools)}"
        try:
            return tool.run(arguments)
        except (TypeError, ValueError) as exc:
            return f"error: {name} failed: {exc}"

    def _intent(self, intent: str, **values: object) -> str:
        values = {k: v for k, v in values.items() if v not in (None, "")}
        reply = self.skills.handle(
            IntentMatch(intent, values, {k: str(v) for k, v in values.items()}),
            last_reply="",
            device=self.device,
        )
        if reply is None:
            return f"error: could not understand the arguments {values}"
        if reply.act is not None:
            reply.act()
        return reply.text
