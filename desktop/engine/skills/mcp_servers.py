"""Tools of MCP servers the user configured, through the official ``mcp`` SDK.

Each server is a command started as a child process and spoken to over stdio
(settings ``mcp_servers = ["python -m my_server", ...]``). The SDK is async, so the
sessions live on one event loop in a thread of their own; ``call`` blocks the
turn's thread for at most CALL_TIMEOUT_S. A server that does not start, hangs,
crashes or answers garbage gives a one-line error, and the turn goes on.

A server runs outside Parley's offline guard (netguard.py): it is its own process.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import threading
from contextlib import AsyncExitStack
from dataclasses import dataclass

from desktop.errors import ParleyError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class McpTool:
    server: str  # the server's own name (its initialize answer)
    name: str  # the tool's name on that server
    description: str
    parameters: dict

    @property
    def key(self) -> str:
        """How the chat model sees it: unique across servers, a plain identifier."""
        return re.sub(r"\W", "_", f"{self.server}_{self.name}")


class McpServers:
    """Connected MCP servers and their tools; ``close`` stops them."""

    def __init__(self, commands: list[str]) -> None:
        self.tools: dict[str, McpTool] = {}
        self.failures: list[str] = []  # one line per server that could not start
        self._sessions: dict[str, object] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="parley-mcp", daemon=True
        )
        self._thread.start()
        self._ready = threading.Event()
        self._closing: asyncio.Event | None = None
        # One task opens the sessions, holds them, and closes them: the SDK's task
        # groups must be left by the task that entered them.
        self._owner = asyncio.run_coroutine_threadsafe(self._hold(commands), self._loop)
        if not self._ready.wait(START_TIMEOUT_S * max(1, len(commands)) + 5):
            self.failures.append("the MCP servers did not start in time")

    def _run(self, coroutine: object, timeout: float) -> object:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(timeout)

    async def _hold(self, commands: list[str]) -> None:
        self._closing = asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                for command in commands:
                    try:
                        # asyncio.timeout, not wait_for: this task must enter the session.
                        async with asyncio.timeout(START_TIMEOUT_S):
                            await self._connect(command, stack)
                    except Exception as exc:  # the SDK and the child raise many kinds
                        message = f"the MCP server `{command}` could not start: {_one_line(exc)}"
                        log.warning("%s", message)
                        self.failures.append(message)
                self._ready.set()
                await self._closing.wait()
        finally:
            self._ready.set()

    async def _connect(self, command: str, stack: AsyncExitStack) -> None:
        from mcp import Client, StdioServerParameters

        words = shlex.split(command)
        if not words:
            raise ParleyError("an MCP server is a command line, and this one is empty")
        client = Client(StdioServerParameters(command=words[0], args=words[1:]))
        # Entered on a stack of its own first: a server that fails halfway is closed.
        one = AsyncExitStack()
        try:
            await one.enter_async_context(client)
            listed = await client.list_tools()
        except BaseException:
            await one.aclose()
            raise
        await stack.enter_async_context(one)
        server = client.server_info.name or words[0]
        self._sessions[server] = client
        for tool in listed.tools:
            found = McpTool(server, tool.name, tool.description or "", dict(tool.input_schema))
            self.tools[found.key] = found

    def call(self, key: str, arguments: dict) -> str:
        """The tool's answer as text, or a one-line ``error: ...``."""
        tool = self.tools[key]
        try:
            return self._run(self._call(tool, arguments), CALL_TIMEOUT_S + 2)
        except TimeoutError:
            return f"error: the MCP server {tool.server} did not answer in {CALL_TIMEOUT_S:.0f} s"
        except Exception as exc:
            return f"error: the MCP server {tool.server} failed: {_one_line(exc)}"

    async def _call(self, tool: McpTool, arguments: dict) -> str:
        client = self._sessions[tool.server]
        result = await asyncio.wait_for(
            client.call_tool(tool.name, arguments, read_timeout_seconds=CALL_TIMEOUT_S),  # type: ignore[attr-defined]
            CALL_TIMEOUT_S,
        )
        text = "\n".join(str(getattr(part, "text", part)) for part in result.content).strip()
        if result.is_error:
            return f"error: {text or 'the tool failed'}"
        return text or "(no answer)"

    def close(self) -> None:
        """Stop the servers (their processes end with their stdin)."""
        if self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
        try:
            self._owner.result(10.0)
        except Exception:
            log.warning("closing the MCP servers", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _one_line(exc.exceptions[0])
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
