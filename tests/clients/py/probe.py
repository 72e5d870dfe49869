"""Drives a Gatehouse MCP URL with the official Python SDK and prints what it saw as JSON.

Used by the Rust integration tests: they start Gatehouse, then run this as a real client.
"""

import argparse
import asyncio
import json
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


async def run(args: argparse.Namespace) -> dict:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    if args.transport == "sse":
        server = sse_client(args.url, headers=headers)
    else:
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=120.0))
        server = streamable_http_client(args.url, http_client=http)
    out: dict = {}
    async with Client(server, mode=args.mode) as client:
        out["protocol_version"] = str(client.protocol_version)
        out["server_name"] = client.server_info.name if client.server_info else None
        tools = await client.list_tools()
        out["tools"] = sorted(tool.name for tool in tools.tools)
        for call in args.call or []:
            name, _, raw = call.partition("=")
            # A caller that gives up cancels the call: the SDK sends `notifications/cancelled`
            # in the session revision and closes the response stream in the stateless one.
            with anyio.move_on_after(args.cancel_after) as waited:
                result = await client.call_tool(name, json.loads(raw) if raw else {})
            if waited.cancelled_caught:
                out.setdefault("calls", []).append({"cancelled": True})
            else:
                out.setdefault("calls", []).append(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token")
    parser.add_argument("--mode", default="auto", help="auto, legacy or 2026-07-28")
    parser.add_argument("--transport", default="http", choices=["http", "sse"])
    parser.add_argument("--call", action="append", help="tool=JSON arguments; repeatable")
    parser.add_argument("--cancel-after", type=float, default=None, help="give up on a call after this many seconds")
    args = parser.parse_args()
    try:
        out = asyncio.run(run(args))
    except BaseException as err:  # noqa: BLE001 - report any failure as data for the test
        while isinstance(err, BaseExceptionGroup) and err.exceptions:
            err = err.exceptions[0]
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
