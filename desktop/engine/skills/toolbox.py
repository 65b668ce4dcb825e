"""All the tools a chat model is offered, and the user's yes before an MCP tool runs.

Built-in tools (the intents) only read the clock or set the timers the user asked
for: they run at once. An MCP tool may do anything, so it runs only after the user
says yes (``approve``: a prompt in the terminal), or if they chose "always" for
that tool before (kept in the settings as ``mcp_always_allow``). Where no one can
be asked (no ``approve``: the window and the voice loop, for now), MCP tools are
not offered at all: a tool call never runs while the user is not there to approve.
"""

from __future__ import annotations

from collections.abc import Callable

from desktop.engine.skills.mcp_servers import McpServers
from desktop.engine.skills.tools import BuiltinTools

# approve(server, tool, arguments) -> "yes", "no" or "always"
Approver = Callable[[str, str, dict], str]


class ToolBox:
    def __init__(
        self,
        builtin: BuiltinTools,
        mcp: McpServers | None = None,
        always_allowed: tuple[str, ...] = (),
    ) -> None:
        self.builtin = builtin
        self.mcp = mcp
        self.always_allowed = set(always_allowed)  # "server/tool"
        self.approve: Approver | None = None
        self.on_always: Callable[[tuple[str, ...]], None] = lambda allowed: None

    @property
    def tools(self) -> dict[str, object]:
        """Every tool offered now, by the name the model calls it."""
        offered: dict[str, object] = dict(self.builtin.tools)
        if self.mcp is not None and self.approve is not None:
            offered.update(self.mcp.tools)
        return offered

    def schemas(self) -> list[dict]:
        schemas = self.builtin.schemas()
        if self.mcp is not None and self.approve is not None:
            schemas += [
                {
                    "type": "function",
                    "function": {
                        "name": key,
                        "description": f"{tool.description} (from the MCP server {tool.server})",
                        "parameters": tool.parameters,
                    },
                }
                for key, tool in self.mcp.tools.items()
            ]
        return schemas

    def call(self, name: str, arguments: dict) -> str:
        if name in self.builtin.tools or self.mcp is None or name not in self.mcp.tools:
            return self.builtin.call(name, arguments)
        tool = self.mcp.tools[name]
        allowed_as = f"{tool.server}/{tool.name}"
        if allowed_as not in self.always_allowed:
            if self.approve is None:
                return "error: no one is here to approve this tool"
            answer = self.approve(tool.server, tool.name, arguments)
            if answer == "always":
                self.always_allowed.add(allowed_as)
                self.on_always(tuple(sorted(self.always_allowed)))
            elif answer != "yes":
                return "error: the user said no; do not call this tool again for this request"
        return self.mcp.call(name, arguments)

    def close(self) -> None:
        if self.mcp is not None:
            self.mcp.close()
