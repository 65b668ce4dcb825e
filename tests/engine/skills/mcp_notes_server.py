"""A small MCP server for the tests, written with the official SDK (stdio).

Tools: add_note (appends to the file after --notes, so a test can see whether it
really ran; the SDK hands a server only a few safe environment variables), hang (never answers), crash (the process dies). With --garbage it
writes text that is not JSON-RPC and then nothing.
"""

import os
import sys
import time

if "--garbage" in sys.argv:
    print("hello, this is not JSON-RPC", flush=True)
    time.sleep(60)
    sys.exit(0)

from mcp.server import MCPServer  # noqa: E402

server = MCPServer("notes")


@server.tool()
def add_note(text: str) -> str:
    """Write a note down."""
    with open(sys.argv[sys.argv.index("--notes") + 1], "a", encoding="utf-8") as notes:
        notes.write(text + "\n")
    return f"noted: {text}"


@server.tool()
def hang() -> str:
    """Never answers."""
    time.sleep(600)
    return "too late"


@server.tool()
def crash() -> str:
    """Ends the server's process."""
    os._exit(3)


if __name__ == "__main__":
    server.run()
