// Drives an MCP server over stdio with the TypeScript SDK's client
// (@modelcontextprotocol/sdk, pinned in package.json), one step at a time, for the
// gateway tests: the same line protocol as drive.py. Reads one JSON command per line
// on standard input and prints one JSON answer per line on standard output.
//
//     node drive.mjs -- COMMAND ARGS...
//
// Commands: {"op": "list"}, {"op": "call", "tool": NAME, "arguments": {...}},
// {"op": "close"}. A call answers {"ok": true, "is_error": ..., "text": ...} for a
// result, or {"ok": false, "code": ..., "message": ..., "data": ...} when the server
// answered a JSON-RPC error. COMMAND gets this process's environment.

import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const argv = process.argv.slice(2);
const command = argv.slice(argv.indexOf("--") + 1);
const transport = new StdioClientTransport({
  command: command[0],
  args: command.slice(1),
  env: { ...process.env },
  stderr: "inherit",
});
const client = new Client({ name: "countersign-drive-ts", version: "1.0.0" });
await client.connect(transport);
say({ initialized: client.getServerVersion()?.name ?? "unknown" });

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const cmd = JSON.parse(line);
  if (cmd.op === "close") {
    break;
  }
  try {
    if (cmd.op === "list") {
      const tools = await client.listTools();
      say({ tools: tools.tools.map((t) => t.name) });
    } else if (cmd.op === "call") {
      const r = await client.callTool({ name: cmd.tool, arguments: cmd.arguments ?? {} });
      const text = (r.content ?? [])
        .filter((c) => c.type === "text")
        .map((c) => c.text)
        .join("");
      say({ ok: true, is_error: Boolean(r.isError), text });
    }
  } catch (e) {
    if (e instanceof McpError) {
      say({ ok: false, code: e.code, message: e.message, data: e.data ?? null });
    } else {
      throw e;
    }
  }
}
lines.close();
await client.close();
say({ closed: true });
// Standard input stays open (the test holds it); writes to a pipe are synchronous on
// Linux, so the answer is out before the exit.
process.exit(0);
