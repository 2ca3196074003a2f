"""Drives an MCP server over stdio with the Python `mcp` SDK's client, one step at a
time, for the gateway tests: reads one JSON command per line on standard input and
prints one JSON answer per line on standard output.

    drive.py [--elicit] [--modern] -- COMMAND ARGS...
    drive.py --http URL [--elicit] [--modern]
                                 (Streamable HTTP; the bearer token from DRIVE_TOKEN)

Commands: {"op": "list"} (answers the tool names, each tool's
_meta["countersign/decision"] and description), {"op": "call", "tool": NAME, "arguments": {...}},
{"op": "close"}. A call answers {"ok": true, "is_error": ..., "text": ...} for a
result, or {"ok": false, "code": ..., "message": ..., "data": ...} when the server
answered a JSON-RPC error. --elicit gives the client an elicitation callback, so it
declares the elicitation capability (form and URL) in `initialize`. --modern speaks
the 2026-07-28 revision: `server/discover` instead of `initialize`, the client's
revision and capabilities in each request's `_meta`, and a call may answer
{"ok": true, "input_required": true, "request_state": ..., "input_requests": {...}},
which {"op": "retry", "tool", "arguments", "request_state", "accept": [KEYS]} retries
with an accepting ElicitResult for each key. COMMAND gets this process's environment
(the SDK passes only a few variables by default).
"""

import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
import mcp_types as types


def say(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def decline(context, params):
    return types.ElicitResult(action="decline")


def said(r) -> dict:
    if isinstance(r, types.InputRequiredResult):
        return {
            "ok": True,
            "input_required": True,
            "request_state": r.request_state,
            "input_requests": {
                k: v.model_dump(mode="json", by_alias=True, exclude_none=True)
                for k, v in (r.input_requests or {}).items()
            },
        }
    text = "".join(c.text for c in r.content if getattr(c, "type", "") == "text")
    return {"ok": True, "is_error": bool(r.is_error), "text": text}


async def session_loop(read, write, elicit: bool, modern: bool) -> None:
    stdin = anyio.wrap_file(sys.stdin)
    kwargs = {"elicitation_callback": decline} if elicit else {}
    async with ClientSession(read, write, **kwargs) as session:
        if modern:
            await session.discover()
            say({"initialized": session.protocol_version})
        else:
            init = await session.initialize()
            say({"initialized": init.protocol_version})
        async for line in stdin:
            cmd = json.loads(line)
            if cmd["op"] == "close":
                break
            try:
                if cmd["op"] == "list":
                    tools = await session.list_tools()
                    say({
                        "tools": [t.name for t in tools.tools],
                        "decisions": {t.name: (t.meta or {}).get("countersign/decision") for t in tools.tools},
                        "descriptions": {t.name: t.description for t in tools.tools},
                    })
                elif cmd["op"] == "call":
                    r = await session.call_tool(
                        cmd["tool"], cmd.get("arguments"), allow_input_required=modern
                    )
                    say(said(r))
                elif cmd["op"] == "retry":
                    responses = {k: types.ElicitResult(action="accept") for k in cmd.get("accept", [])}
                    r = await session.call_tool(
                        cmd["tool"],
                        cmd.get("arguments"),
                        input_responses=responses or None,
                        request_state=cmd.get("request_state"),
                        allow_input_required=True,
                    )
                    say(said(r))
            except MCPError as e:
                say({"ok": False, "code": e.error.code, "message": e.error.message, "data": e.error.data})


async def main(argv: list[str]) -> None:
    flags = argv[: argv.index("--")] if "--" in argv else argv
    elicit = "--elicit" in flags
    modern = "--modern" in flags
    if argv[0] == "--http":
        headers = {}
        if os.environ.get("DRIVE_TOKEN"):
            headers["Authorization"] = "Bearer " + os.environ["DRIVE_TOKEN"]
        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(argv[1], http_client=http) as (read, write):
                await session_loop(read, write, elicit, modern)
    else:
        command = argv[argv.index("--") + 1 :]
        params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            await session_loop(read, write, elicit, modern)
    say({"closed": True})


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
