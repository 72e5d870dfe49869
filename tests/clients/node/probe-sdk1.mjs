// Drives a Gatehouse MCP URL with the TypeScript SDK 1.x client and prints what it saw as JSON.
// Usage: node probe-sdk1.mjs --url URL --token T [--transport http|sse] [--call name=JSON]...
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseArgs, report } from './args.mjs';

const args = parseArgs(process.argv.slice(2));
await report(async () => {
  const headers = args.token ? { Authorization: `Bearer ${args.token}` } : {};
  const url = new URL(args.url);
  const transport =
    args.transport === 'sse'
      ? new SSEClientTransport(url, { requestInit: { headers }, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers, ...headers } }) } })
      : new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  const client = new Client({ name: 'gatehouse-tests-sdk1', version: '1.0.0' });
  await client.connect(transport);
  const out = { protocol_version: transport.protocolVersion ?? null, server_name: client.getServerVersion()?.name ?? null };
  out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
  for (const [name, toolArgs] of args.calls) {
    out.calls ??= [];
    out.calls.push(await client.callTool({ name, arguments: toolArgs }));
  }
  await client.close();
  return out;
});
