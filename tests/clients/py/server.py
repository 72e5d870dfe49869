"""A small upstream MCP server built with the Python SDK's MCPServer, served over HTTP.

Usage: python server.py --port N [--transport streamable-http|sse]
"""

import argparse
import asyncio

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

mcp = MCPServer("gatehouse-test-python")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


@mcp.tool()
def shout(text: str) -> str:
    """Returns the text in capitals."""
    return text.upper()


@mcp.tool()
async def sleep(seconds: float) -> str:
    """Waits, then answers: for timeout tests."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@mcp.tool()
def fail(message: str) -> str:
    """Always fails with the given message (a ToolError, so the model sees it)."""
    raise ToolError(message)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", default="streamable-http")
    args = parser.parse_args()
    mcp.run(args.transport, host="127.0.0.1", port=args.port)
