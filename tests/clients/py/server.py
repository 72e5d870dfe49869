"""A small upstream MCP server built with the Python SDK's MCPServer, served over HTTP.

Usage: python server.py --port N [--transport streamable-http|sse]
"""

import argparse
import asyncio
import os

import json

import anyio
import uvicorn
from pydantic import BaseModel

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http import EventMessage, EventStore

mcp = MCPServer("gatehouse-test-python")


# How often each counted tool has run here: what reached this server through the gateway.
# `<tool> traced` counts the runs whose request carried a `traceparent` header, which only the
# gateway's fast paths pass on: how a test knows which path a call took.
RUNS: dict[str, int] = {}


def ran(tool: str, ctx: Context | None = None) -> None:
    RUNS[tool] = RUNS.get(tool, 0) + 1
    if ctx is not None and "traceparent" in {k.lower() for k in (ctx.headers or {})}:
        RUNS[f"{tool} traced"] = RUNS.get(f"{tool} traced", 0) + 1


@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    RUNS["add"] = RUNS.get("add", 0) + 1
    return a + b


@mcp.tool()
def shout(text: str, ctx: Context) -> str:
    """Returns the text in capitals."""
    ran("shout", ctx)
    return text.upper()


@mcp.tool()
def times_run(tool: str) -> int:
    """How often `add` or `shout` has run on this server, or `sleep` has started
    (`sleep started`) or was cancelled (`sleep cancelled`); `<tool> traced` for the runs that
    came with a `traceparent` header."""
    return RUNS.get(tool, 0)


@mcp.tool()
async def sleep(seconds: float, ctx: Context) -> str:
    """Waits, then answers: for timeout and cancellation tests."""
    ran("sleep started", ctx)
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
    ran("count_up", ctx)
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


class Confirmation(BaseModel):
    proceed: bool


@mcp.tool()
async def ask(ctx: Context) -> str:
    """Asks the client a question mid-call (elicitation), then says what came of it."""
    ran("ask", ctx)
    try:
        answer = await ctx.elicit("Proceed?", Confirmation)
    except Exception as err:  # noqa: BLE001 - what the client answered is the result
        return f"could not ask: {err}"
    return f"the client answered: {answer.action}"


@mcp.tool()
async def note(text: str, ctx: Context) -> str:
    """Logs the text to the caller (a log message tied to this call), then answers."""
    ran("note", ctx)
    await ctx.info(text)
    return "noted"


@mcp.tool()
async def pause(seconds: float, ctx: Context) -> str:
    """Reports progress, closes the call's event stream so the client has to pick it up again
    (SSE polling; only with --resumable), waits, then answers."""
    ran("pause", ctx)
    await ctx.report_progress(1, 2, "closing the stream")
    await ctx.close_sse_stream()
    await asyncio.sleep(seconds)
    await ctx.report_progress(2, 2, "back")
    return f"paused {seconds}"


class MemoryEventStore(EventStore):
    """Keeps every event, so a client can pick a stream up again after any of them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    async def store_event(self, stream_id, message):
        event_id = str(len(self.events) + 1)
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id, send_callback):
        stream = next((s for e, s, _ in self.events if e == last_event_id), None)
        if stream is None:
            return None
        after = False
        for event_id, stream_id, message in self.events:
            if after and stream_id == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
            after = after or event_id == last_event_id
        return stream


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
    parser.add_argument("--resumable", action="store_true", help="keep events, so streams can be picked up again")
    args = parser.parse_args()
    if args.transport == "streamable-http":
        resumable = {"event_store": MemoryEventStore(), "retry_interval": 100} if args.resumable else {}
        app = mcp.streamable_http_app(json_response=args.json, **resumable)
        uvicorn.run(behind_a_broken_proxy(app), host="127.0.0.1", port=args.port, log_level="warning")
    else:
        mcp.run(args.transport, host="127.0.0.1", port=args.port)
