// Drives a Gatehouse MCP URL with the TypeScript SDK 2.x client (version negotiation "auto")
// and prints what it saw as JSON.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parseArgs, report } from './args.mjs';

const args = parseArgs(process.argv.slice(2));
await report(async () => {
  const headers = args.token ? { Authorization: `Bearer ${args.token}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(args.url), { requestInit: { headers } });
  const client = new Client(
    { name: 'gatehouse-tests-sdk2', version: '2.0.0' },
    { versionNegotiation: { mode: args.mode ?? 'auto' } },
  );
  await client.connect(transport);
  const out = { protocol_version: client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion ?? null };
  out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
  for (const [name, toolArgs] of args.calls) {
    out.calls ??= [];
    out.calls.push(await client.callTool({ name, arguments: toolArgs }));
  }
  await client.close();
  return out;
});
