"""Fixture MCP server for the official conformance suite's *server* scenarios.

`@modelcontextprotocol/conformance` (0.2.0-alpha.11) tests a server by calling a
fixed set of tools, resources and prompts (`test_simple_text`,
`test://static-text`, `test_simple_prompt`, the `test_input_required_result_*`
tools, ...). The suite's own fixture ("everything server") is not published, so
this module is Gatehouse's own implementation of that surface, written against
the behaviour the scenarios check. The integration tests put it behind the
gateway and point the suite at the gateway.

Built on the official Python SDK's `MCPServer` (mcp 2.3.0) and served over
Streamable HTTP at `/mcp`. One endpoint speaks both protocol eras: 2025-11-25
sessions (initialize handshake, `Mcp-Session-Id`, server-to-client requests)
and the stateless 2026-07-28 revision (per-request `_meta`, multi-round-trip
`InputRequiredResult` instead of server-to-client requests).

Usage: python conformance_server.py --port N [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import itertools
import json
import struct
import warnings
import wave
import zlib
from typing import Annotated, Any

from mcp_types import (
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    CallToolResult,
    ClientCapabilities,
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageResult,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequiredResult,
    JSONRPCMessage,
    ListRootsResult,
    MissingRequiredClientCapabilityErrorData,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from mcp_types.methods import CACHEABLE_METHODS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field

from mcp.server import MCPServer
from mcp.server.caching import CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, UserMessage
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.tools import Tool
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

# The fixture deliberately exercises features the 2026-07-28 revision deprecates
# (logging, sampling, roots) for the 2025-11-25 scenarios; the SDK warns on each use.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)


# --- Binary test data -----------------------------------------------------------------
# Generated here rather than pasted in as opaque base64, so it is plainly our own.


def _png_1x1_red() -> bytes:
    """A valid 1x1 red RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit, truecolour
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence() -> bytes:
    """A valid, very short mono 16-bit WAV file (10 ms of silence)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 80)
    return buffer.getvalue()


PNG_BYTES = _png_1x1_red()
PNG_BASE64 = base64.b64encode(PNG_BYTES).decode()
WAV_BASE64 = base64.b64encode(_wav_silence()).decode()


# --- Schema tools ---------------------------------------------------------------------

# SEP-1613 / SEP-2106: a tool whose inputSchema uses the wider JSON Schema 2020-12
# vocabulary; the scenario checks every keyword survives tools/list untouched.
JSON_SCHEMA_2020_12_INPUT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def json_schema_2020_12_tool(
    name: str | None = None,
    address: dict[str, str] | None = None,
    contactMethod: str | None = None,  # noqa: N803 - the wire name
    phone: str | None = None,
    email: str | None = None,
) -> str:
    """Tool with JSON Schema 2020-12 features (SEP-1613, SEP-2106)."""
    given = {"name": name, "address": address, "contactMethod": contactMethod, "phone": phone, "email": email}
    return f"JSON Schema 2020-12 tool called with: {json.dumps({k: v for k, v in given.items() if v is not None})}"


def _json_schema_2020_12_tool() -> Tool:
    """`MCPServer` derives inputSchema from the signature; publish the hand-written one instead.

    Arguments are still validated against the (all-optional) signature.
    """
    tool = Tool.from_function(json_schema_2020_12_tool)
    return tool.model_copy(update={"parameters": JSON_SCHEMA_2020_12_INPUT})


# --- Server ---------------------------------------------------------------------------

mcp = MCPServer(
    "gatehouse-conformance-fixture",
    version="1.0.0",
    instructions="Fixture server for the MCP conformance suite's server scenarios.",
    # 2026-07-28 (SEP-2549): cacheable results must carry ttlMs/cacheScope.
    cache_hints={method: CacheHint(ttl_ms=0, scope="private") for method in CACHEABLE_METHODS},
    # Pre-built tools are listed before decorated ones. The header-validation scenario
    # calls the first listed tool with no arguments, which this one accepts.
    tools=[_json_schema_2020_12_tool()],
)


# --- Content tools (both eras) --------------------------------------------------------


@mcp.tool()
def test_simple_text() -> str:
    """Returns a single text block."""
    return "This is a simple text response for testing."


@mcp.tool()
def test_image_content() -> ImageContent:
    """Returns a 1x1 PNG image."""
    return ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")


@mcp.tool()
def test_audio_content() -> AudioContent:
    """Returns a short WAV clip."""
    return AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")


@mcp.tool()
def test_embedded_resource() -> EmbeddedResource:
    """Returns an embedded text resource."""
    return EmbeddedResource(
        type="resource",
        resource=TextResourceContents(
            uri="test://embedded-resource",
            mime_type="text/plain",
            text="This is an embedded resource content.",
        ),
    )


@mcp.tool()
def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    """Returns text, image and embedded-resource blocks together."""
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG_BASE64, mime_type="image/png"),
        EmbeddedResource(
            type="resource",
            resource=TextResourceContents(
                uri="test://mixed-content-resource",
                mime_type="application/json",
                text=json.dumps({"test": "data", "value": 123}),
            ),
        ),
    ]


@mcp.tool()
async def test_tool_with_logging(ctx: Context) -> str:
    """Sends three info log notifications ~50 ms apart while running."""
    await ctx.info("Tool execution started")
    await asyncio.sleep(0.05)
    await ctx.info("Tool processing data")
    await asyncio.sleep(0.05)
    await ctx.info("Tool execution completed")
    return "Tool with logging executed successfully"


@mcp.tool()
async def test_tool_with_progress(ctx: Context) -> str:
    """Reports progress 0, 50 and 100 of 100 (when the caller sent a progressToken)."""
    for step in (0, 50, 100):
        await ctx.report_progress(step, 100, f"Completed step {step} of 100")
        if step < 100:
            await asyncio.sleep(0.05)
    return "Tool with progress executed successfully"


@mcp.tool()
def test_error_handling() -> CallToolResult:
    """Always fails, as a tool-level error (isError: true)."""
    return CallToolResult(
        content=[TextContent(type="text", text="This tool intentionally returns an error for testing")],
        is_error=True,
    )


@mcp.tool()
async def test_reconnection(ctx: Context) -> str:
    """Closes its own SSE response stream mid-call (SEP-1699 polling).

    The result is produced after the client has had time to reconnect with
    Last-Event-ID; the event store replays it on the resumed stream.
    """
    await ctx.info("Before disconnect")
    await ctx.close_sse_stream()
    await asyncio.sleep(0.2)
    await ctx.info("After reconnect")
    return "Reconnection test completed"


# --- Server-to-client request tools (2025-11-25 sessions) -----------------------------


@mcp.tool()
async def test_sampling(prompt: str, ctx: Context) -> str:
    """Asks the client's LLM (sampling/createMessage) and echoes the answer."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=100,
        related_request_id=ctx.request_context.request_id,
    )
    text = result.content.text if isinstance(result.content, TextContent) else "(non-text response)"
    return f"LLM response: {text}"


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> ElicitResult:
    """Send a form-mode elicitation/create on this request's stream, with a raw schema.

    `Context.elicit` builds the schema from a pydantic model, which cannot express
    every variant the scenarios check (titled enums, enumNames), so the raw form is used.
    """
    return await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_context.request_id)


@mcp.tool()
async def test_elicitation(message: str, ctx: Context) -> str:
    """Asks the user for a username and email (elicitation/create)."""
    result = await _elicit(
        ctx,
        message,
        {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        },
    )
    return f"User response: action={result.action}, content={json.dumps(result.content or {})}"


@mcp.tool()
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Elicits a form whose fields carry default values of every primitive type (SEP-1034)."""
    result = await _elicit(
        ctx,
        "Please review and update the form fields with defaults",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": True},
            },
        },
    )
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}"


@mcp.tool()
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Elicits a form using all five enum schema variants (SEP-1330)."""
    result = await _elicit(
        ctx,
        "Please pick from each kind of enum",
        {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {
                    "type": "string",
                    "oneOf": [
                        {"const": "value1", "title": "First Option"},
                        {"const": "value2", "title": "Second Option"},
                        {"const": "value3", "title": "Third Option"},
                    ],
                },
                "legacyEnum": {
                    "type": "string",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"},
                        ]
                    },
                },
            },
        },
    )
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}"


# --- SEP-2243 custom header tool (2026-07-28) -----------------------------------------

# `x-mcp-header` asks 2026-07-28 clients to mirror the argument into an `Mcp-Param-Region`
# header; the SDK checks header against body and rejects a mismatch (-32020, HTTP 400).
Region = Annotated[
    str, Field(description="Sent in the body and as Mcp-Param-Region", json_schema_extra={"x-mcp-header": "Region"})
]


@mcp.tool()
def test_header_param(region: Region) -> str:
    """Echoes an argument that is also carried in a custom request header (SEP-2243)."""
    return f"region={region}"


# --- Stateless-revision diagnostics (2026-07-28, SEP-2575) ----------------------------


@mcp.tool()
def test_missing_capability(ctx: Context) -> str:
    """Needs the client's sampling capability; rejects callers that did not declare it."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        required = ClientCapabilities.model_validate({"sampling": {}})
        raise MCPError(
            code=MISSING_REQUIRED_CLIENT_CAPABILITY,
            message="This tool requires the client's sampling capability",
            data=MissingRequiredClientCapabilityErrorData(required_capabilities=required).model_dump(
                by_alias=True, mode="json", exclude_none=True
            ),
        )
    return "Success"


@mcp.tool()
async def test_logging_tool(ctx: Context) -> str:
    """Tries to log. On 2026-07-28 the SDK only delivers it if the request's _meta asked for a level."""
    await ctx.info("Diagnostic trace logging activated")
    return "Logging evaluated"


def test_dynamic_tool() -> str:
    """Exists only while toggled on by test_trigger_tool_change."""
    return "Dynamic tool called"


def test_dynamic_prompt() -> str:
    """Exists only while toggled on by test_trigger_prompt_change."""
    return "This is a dynamically added prompt."


@mcp.tool()
async def test_trigger_tool_change(ctx: Context) -> str:
    """Adds or removes test_dynamic_tool and tells subscriptions/listen streams."""
    if any(tool.name == "test_dynamic_tool" for tool in await mcp.list_tools()):
        mcp.remove_tool("test_dynamic_tool")
    else:
        mcp.add_tool(test_dynamic_tool)
    await ctx.notify_tools_changed()
    return "Tool list changed"


@mcp.tool()
async def test_trigger_prompt_change(ctx: Context) -> str:
    """Adds or removes test_dynamic_prompt and tells subscriptions/listen streams."""
    if any(prompt.name == "test_dynamic_prompt" for prompt in await mcp.list_prompts()):
        mcp.remove_prompt("test_dynamic_prompt")
    else:
        mcp.add_prompt(Prompt.from_function(test_dynamic_prompt))
    await ctx.notify_prompts_changed()
    return "Prompt list changed"


# --- Multi-round-trip requests (2026-07-28, SEP-2322) ---------------------------------
# Instead of sending the client requests, a handler returns InputRequiredResult naming
# what it needs; the client retries with `inputResponses` (keyed as asked) and the
# echoed `requestState`. The SDK seals requestState, so handlers see only plaintext
# they minted, and a tampered echo is rejected before any handler runs.


def _elicitation(message: str, properties: dict[str, Any]) -> dict[str, Any]:
    """An embedded elicitation/create request for a form with the given (required) fields."""
    return {
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {"type": "object", "properties": properties, "required": list(properties)},
        },
    }


def _sampling(prompt: str, max_tokens: int) -> dict[str, Any]:
    """An embedded sampling/createMessage request."""
    return {
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
            "maxTokens": max_tokens,
        },
    }


ROOTS_REQUEST: dict[str, Any] = {"method": "roots/list", "params": {}}


def _input_required(ctx: Context, requests: dict[str, Any], request_state: str | None = None) -> InputRequiredResult:
    """Ask the client for input, the 2026-07-28 way.

    An earlier-era session cannot carry an InputRequiredResult (the SDK would answer
    with an internal error), so the call fails as a tool error that says why.
    """
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        raise ToolError(f"needs protocol 2026-07-28 or later; this session speaks {ctx.protocol_version}")
    return InputRequiredResult(input_requests=requests, request_state=request_state)


def _accepted(ctx: Context, key: str) -> dict[str, Any] | None:
    """The form content of an accepted elicitation answer under `key`, else None."""
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, ElicitResult) and answer.action == "accept":
        return answer.content or {}
    return None


def _sampled_text(ctx: Context, key: str) -> str | None:
    """The text of a sampling answer under `key`, else None."""
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, CreateMessageResult) and isinstance(answer.content, TextContent):
        return answer.content.text
    return None


def _roots(ctx: Context, key: str) -> list[str] | None:
    """The root URIs of a roots/list answer under `key`, else None."""
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, ListRootsResult):
        return [str(root.uri) for root in answer.roots]
    return None


@mcp.tool()
def test_input_required_result_elicitation(ctx: Context) -> str | InputRequiredResult:
    """Asks for the user's name, then greets them. Unrelated answers are ignored and re-asked."""
    answer = _accepted(ctx, "user_name")
    if answer is None or not isinstance(answer.get("name"), str):
        return _input_required(ctx, {"user_name": _elicitation("What is your name?", {"name": {"type": "string"}})})
    return f"Hello, {answer['name']}!"


@mcp.tool()
def test_input_required_result_sampling(ctx: Context) -> str | InputRequiredResult:
    """Asks the client's LLM a question, then reports the answer."""
    text = _sampled_text(ctx, "capital_question")
    if text is None:
        return _input_required(ctx, {"capital_question": _sampling("What is the capital of France?", 100)})
    return f"The model answered: {text}"


@mcp.tool()
def test_input_required_result_list_roots(ctx: Context) -> str | InputRequiredResult:
    """Asks for the client's roots, then lists them."""
    roots = _roots(ctx, "client_roots")
    if roots is None:
        return _input_required(ctx, {"client_roots": ROOTS_REQUEST})
    return f"Client roots: {', '.join(roots) or '(none)'}"


@mcp.tool()
def test_input_required_result_request_state(ctx: Context) -> str | InputRequiredResult:
    """Round-trips requestState: completes only when the echoed state is the one it minted."""
    answer = _accepted(ctx, "confirm")
    if answer is None or ctx.request_state != "awaiting-confirm":
        return _input_required(
            ctx,
            {"confirm": _elicitation("Please confirm", {"ok": {"type": "boolean"}})},
            request_state="awaiting-confirm",
        )
    return f"state-ok: confirmed={answer.get('ok')}"


@mcp.tool()
def test_input_required_result_multiple_inputs(ctx: Context) -> str | InputRequiredResult:
    """Needs an elicitation, a sampling and a roots answer at once; re-asks for any missing."""
    name, greeting, roots = _accepted(ctx, "user_name"), _sampled_text(ctx, "greeting"), _roots(ctx, "client_roots")
    missing: dict[str, Any] = {}
    if name is None:
        missing["user_name"] = _elicitation("What is your name?", {"name": {"type": "string"}})
    if greeting is None:
        missing["greeting"] = _sampling("Generate a greeting", 50)
    if roots is None:
        missing["client_roots"] = ROOTS_REQUEST
    if missing:
        return _input_required(ctx, missing, request_state="awaiting-inputs")
    return f"{greeting} {name.get('name')} (roots: {', '.join(roots)})"


@mcp.tool()
def test_input_required_result_multi_round(ctx: Context) -> str | InputRequiredResult:
    """Two questions in two rounds; the requestState records which round the call is in."""
    state = ctx.request_state or ""
    if state.startswith("step-2:") and (color := _accepted(ctx, "step2")) is not None:
        return f"{state.removeprefix('step-2:')} likes {color.get('color')}"
    if state == "step-1" and (name := _accepted(ctx, "step1")) is not None:
        return _input_required(
            ctx,
            {"step2": _elicitation("Step 2: What is your favorite color?", {"color": {"type": "string"}})},
            request_state=f"step-2:{name.get('name')}",
        )
    return _input_required(
        ctx,
        {"step1": _elicitation("Step 1: What is your name?", {"name": {"type": "string"}})},
        request_state="step-1",
    )


@mcp.tool()
def test_input_required_result_tampered_state(ctx: Context) -> str | InputRequiredResult:
    """Mints requestState for the retry; a tampered echo never reaches here (the SDK rejects it)."""
    if ctx.request_state == "integrity-check" and _accepted(ctx, "confirm") is not None:
        return "requestState verified"
    return _input_required(
        ctx,
        {"confirm": _elicitation("Please confirm", {"ok": {"type": "boolean"}})},
        request_state="integrity-check",
    )


@mcp.tool()
def test_input_required_result_capabilities(ctx: Context) -> str | InputRequiredResult:
    """Asks only for the kinds of input the client declared it can provide."""
    capabilities = ctx.client_capabilities or ClientCapabilities()
    wanted: dict[str, Any] = {}
    if capabilities.elicitation is not None and _accepted(ctx, "user_name") is None:
        wanted["user_name"] = _elicitation("What is your name?", {"name": {"type": "string"}})
    if capabilities.sampling is not None and _sampled_text(ctx, "greeting") is None:
        wanted["greeting"] = _sampling("Generate a greeting", 50)
    if capabilities.roots is not None and _roots(ctx, "client_roots") is None:
        wanted["client_roots"] = ROOTS_REQUEST
    if wanted:
        return _input_required(ctx, wanted)
    return "Done with what the client could provide"


@mcp.tool()
async def test_streaming_elicitation(ctx: Context) -> str | InputRequiredResult:
    """Needs user input mid-call (SEP-2575 diagnostic).

    On 2026-07-28 a response stream may carry notifications and the final (possibly
    input_required) result, never a request of its own, so the question goes in the result.
    """
    await ctx.report_progress(50, 100, "Waiting for confirmation")
    answer = _accepted(ctx, "confirmation")
    if answer is None:
        return _input_required(ctx, {"confirmation": _elicitation("Continue streaming?", {"ok": {"type": "boolean"}})})
    return "Streaming complete"


@mcp.prompt()
def test_input_required_result_prompt(ctx: Context) -> list[UserMessage] | InputRequiredResult:
    """A prompt that first asks the user which context to use (InputRequiredResult on prompts/get)."""
    answer = _accepted(ctx, "user_context")
    if answer is None:
        question = _elicitation("What context should the prompt use?", {"context": {"type": "string"}})
        return _input_required(ctx, {"user_context": question})
    return [UserMessage(f"Use this context: {answer.get('context')}")]


# --- Resources ------------------------------------------------------------------------


@mcp.resource("test://static-text", name="static-text", description="A static text resource", mime_type="text/plain")
def static_text() -> str:
    return "This is the content of the static text resource."


@mcp.resource(
    "test://static-binary", name="static-binary", description="A static binary resource (PNG)", mime_type="image/png"
)
def static_binary() -> bytes:
    return PNG_BYTES


@mcp.resource(
    "test://template/{id}/data",
    name="template-data",
    description="A resource template with one parameter",
    mime_type="application/json",
)
def template_data(id: str) -> str:  # noqa: A002 - the template variable's name
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@mcp.resource(
    "test://watched-resource",
    name="watched-resource",
    description="A resource clients may subscribe to",
    mime_type="text/plain",
)
def watched_resource() -> str:
    return "Watched resource content"


# --- Prompts --------------------------------------------------------------------------


@mcp.prompt()
def test_simple_prompt() -> str:
    """A simple prompt without arguments."""
    return "This is a simple prompt for testing."


@mcp.prompt()
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    """A prompt with two required arguments."""
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@mcp.prompt()
def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:  # noqa: N803 - the wire name
    """A prompt that embeds the resource named by its argument."""
    return [
        UserMessage(
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(
                    uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
                ),
            )
        ),
        UserMessage("Please process the embedded resource above."),
    ]


@mcp.prompt()
def test_prompt_with_image() -> list[UserMessage]:
    """A prompt that carries an image."""
    return [
        UserMessage(ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")),
        UserMessage("Please analyze the image above."),
    ]


# --- Completion -----------------------------------------------------------------------

COMPLETION_CANDIDATES = ["paris", "park", "party", "test", "testing", "tested"]


@mcp.completion()
async def complete(
    ref: PromptReference | ResourceTemplateReference,
    argument: CompletionArgument,
    context: CompletionContext | None,
) -> Completion:
    """Suggests fixed words that start with what the user typed."""
    values = [word for word in COMPLETION_CANDIDATES if word.startswith(argument.value)]
    return Completion(values=values, total=len(values), has_more=False)


# --- Methods the 2026-07-28 revision removed (2025-11-25 sessions only) ---------------
# `MCPServer` has no public hook for these; the SDK's own guidance is to register them
# on the low-level server. The runner keeps them off the 2026-07-28 surface (-32601).

subscribed_uris: set[str] = set()


async def set_logging_level(ctx: ServerRequestContext, params: SetLevelRequestParams) -> EmptyResult:
    # Accepted, not enforced: the fixture only ever logs at info and the scenarios ask for
    # debug or info, so a per-session threshold would never filter anything.
    return EmptyResult()


async def subscribe(ctx: ServerRequestContext, params: SubscribeRequestParams) -> EmptyResult:
    subscribed_uris.add(str(params.uri))
    return EmptyResult()


async def unsubscribe(ctx: ServerRequestContext, params: UnsubscribeRequestParams) -> EmptyResult:
    subscribed_uris.discard(str(params.uri))
    return EmptyResult()


_lowlevel = mcp._lowlevel_server  # pyright: ignore[reportPrivateUsage]
_lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_logging_level)
_lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
_lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


# --- SSE resumability (SEP-1699) ------------------------------------------------------


class InMemoryEventStore(EventStore):
    """Keeps every SSE event so a client reconnecting with Last-Event-ID can resume.

    Unbounded, which is fine for a test fixture that lives for one test run.
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._stream_of: dict[str, str] = {}  # event id -> stream id
        self._events: dict[str, list[tuple[int, JSONRPCMessage | None]]] = {}  # stream id -> events

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        number = next(self._ids)
        self._stream_of[str(number)] = stream_id
        self._events.setdefault(stream_id, []).append((number, message))
        return str(number)

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        stream_id = self._stream_of.get(last_event_id)
        if stream_id is None:
            return None
        for number, message in self._events[stream_id]:
            if number > int(last_event_id) and message is not None:  # None marks a priming event
                await send_callback(EventMessage(message, str(number)))
        return stream_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    mcp.run(
        "streamable-http",
        host=args.host,
        port=args.port,
        streamable_http_path="/mcp",
        event_store=InMemoryEventStore(),
        retry_interval=100,  # ms; tells SSE clients to reconnect quickly after test_reconnection
    )


if __name__ == "__main__":
    main()
