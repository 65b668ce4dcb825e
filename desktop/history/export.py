"""A saved conversation as Markdown (to read or share) or JSON (to process)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from desktop.history.store import Conversation

FORMATS = ("md", "json")


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def to_markdown(conversation: Conversation) -> str:
    lines = [f"# {conversation.title}", "", f"_{_when(conversation.created_at)}_", ""]
    for turn in conversation.turns:
        lines += ["**You:**", "", turn.question, "", "**Parley:**", ""]
        if turn.reasoning:
            quoted = "\n".join(f"> {line}" for line in turn.reasoning.splitlines())
            lines += ["> _Reasoning:_", ">", quoted, ""]
        for call in turn.tools:
            lines += [f"> _Tool:_ `{tool_call_line(call)}`", ""]
        lines.append(turn.reply or "_(no reply)_")
        if turn.cancelled:
            lines.append("\n_(stopped)_")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def tool_call_line(call: dict) -> str:
    """'start_timer(seconds=90) → Timer set for 1 minute and 30 seconds.'"""
    arguments = ", ".join(f"{k}={json.dumps(v)}" for k, v in call.get("arguments", {}).items())
    return f"{call.get('name') or '(malformed call)'}({arguments}) → {call.get('result', '')}"


def to_json(conversation: Conversation) -> str:
    return json.dumps(asdict(conversation), indent=2, ensure_ascii=False) + "\n"


def export(conversation: Conversation, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(conversation)
    if fmt == "json":
        return to_json(conversation)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
