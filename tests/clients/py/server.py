"""A small upstream MCP server built with the Python SDK's MCPServer, served over HTTP.

Usage: python server.py --port N [--transport streamable-http|sse]
"""

import argparse
import asyncio
import os

import json

import anyio
import uvicorn

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

mcp = MCPServer("gatehouse-test-python")


# How often each counted tool has run here: what reached this server through the gateway.
RUNS: dict[str, int] = {}


@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    RUNS["add"] = RUNS.get("add", 0) + 1
    return a + b


@mcp.tool()
def shout(text: str) -> str:
    """Returns the text in capitals."""
    RUNS["shout"] = RUNS.get("shout", 0) + 1
    return text.upper()


@mcp.tool()
def times_run(tool: str) -> int:
    """How often `add` or `shout` has run on this server, or `sleep` has started
    (`sleep started`) or was cancelled (`sleep cancelled`)."""
    return RUNS.get(tool, 0)


@mcp.tool()
async def sleep(seconds: float) -> str:
    """Waits, then answers: for timeout and cancellation tests."""
    RUNS["sleep started"] = RUNS.get("sleep started", 0) + 1
    try:
        await asyncio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        RUNS["sleep cancelled"] = RUNS.get("sleep cancelled", 0) + 1
        raise
    return f"slept {seconds}"


@mcp.tool()
def fail(message: str) -> str:
    """Always fails with the given message (a ToolError, so the model sees it)."""
    raise ToolError(message)


@mcp.tool()
def headers(ctx: Context) -> str:
    """Returns the HTTP headers this call arrived with, as JSON: what a proxy passed on."""
    return json.dumps({k.lower(): v for k, v in (ctx.headers or {}).items()}, sort_keys=True)


@mcp.tool()
async def count_up(steps: int, ctx: Context) -> str:
    """Reports progress once per step, then answers."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
        await asyncio.sleep(0.05)
    return f"counted to {steps}"


@mcp.tool()
async def die_midway(ctx: Context) -> str:
    """Reports progress once, then the process dies: a stream that breaks off mid-call."""
    await ctx.report_progress(1, 2, "half way")
    await asyncio.sleep(0.1)
    os._exit(1)


def behind_a_broken_proxy(app):
    """Answers calls of the tool `proxied` as a failing reverse proxy in front of the server would:
    502 with an HTML page, no JSON-RPC at all."""

    async def wrapped(scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and headers.get(b"mcp-name") == b"proxied":
            await send({"type": "http.response.start", "status": 502,
                        "headers": [(b"content-type", b"text/html")]})
            await send({"type": "http.response.body", "body": b"<html><h1>502 Bad Gateway</h1></html>"})
            return
        await app(scope, receive, send)

    return wrapped


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", default="streamable-http")
    parser.add_argument("--json", action="store_true", help="answer with JSON bodies instead of SSE streams")
    args = parser.parse_args()
    if args.transport == "streamable-http":
        app = mcp.streamable_http_app(json_response=args.json)
        uvicorn.run(behind_a_broken_proxy(app), host="127.0.0.1", port=args.port, log_level="warning")
    else:
        mcp.run(args.transport, host="127.0.0.1", port=args.port)
