// A small MCP-style tool server (JSON-RPC 2.0 over POST /mcp: tools/list, tools/call) protected by
// the resource-server helper. It serves its protected resource metadata (RFC 9728), so an agent
// that knows only this URL finds devicegate, and accepts only tokens whose aud is this server
// (RFC 8707). With introspection credentials it also notices at once when the person signs the
// agent out in My devices.
//
//   devicegate resources add http://127.0.0.1:3100/mcp --name "Example tools"
//   node --import tsx examples/agent/tool-server.ts
//
// Environment: DEVICEGATE_ISSUER (default http://127.0.0.1:8080), TOOLS_PORT (3100), TOOLS_HOST
// (127.0.0.1), TOOLS_BASE_URL (this server's public URL; default http://TOOLS_HOST:TOOLS_PORT),
// TOOLS_INTROSPECTION_CLIENT_ID / TOOLS_INTROSPECTION_CLIENT_SECRET (a client added with
// --confidential --introspect; then a signed-out agent is refused on its next call).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createTokenVerifier, type TokenVerifierOptions, type VerifiedToken } from '@devicegate/server/resource-server';

const MAX_BODY = 16 * 1024;

type AuthedRequest = IncomingMessage & { auth?: VerifiedToken };

const tools = [
  { name: 'echo', description: 'Answers with the text it is given', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
  { name: 'whoami', description: 'Names the person the agent acts for', inputSchema: { type: 'object', properties: {} } },
];

function json(response: ServerResponse, status: number, body: unknown): void {
  response.statusCode = status;
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.setHeader('cache-control', 'no-store');
  response.end(JSON.stringify(body));
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** One JSON-RPC 2.0 call, answered for the person the token names. */
function answer(call: { id?: unknown; method?: unknown; params?: { name?: unknown; arguments?: Record<string, unknown> } }, auth: VerifiedToken) {
  const reply = (result: unknown) => ({ jsonrpc: '2.0', id: call.id ?? null, result });
  const failure = (code: number, message: string) => ({ jsonrpc: '2.0', id: call.id ?? null, error: { code, message } });
  if (call.method === 'tools/list') return reply({ tools });
  if (call.method !== 'tools/call') return failure(-32601, 'method not found');
  if (call.params?.name === 'echo') return reply({ content: [{ type: 'text', text: String(call.params.arguments?.text ?? '') }] });
  if (call.params?.name === 'whoami') return reply({ content: [{ type: 'text', text: auth.sub }], actor: auth.claims.act ?? null, client_id: auth.clientId });
  return failure(-32602, 'unknown tool');
}

export interface ToolServer {
  server: Server;
  /** The resource identifier: register it with `devicegate resources add`. */
  resource: string;
  close(): Promise<void>;
}

/** Starts the tool server; `port: 0` picks a free one. */
export async function startToolServer(options: { issuer: string; host?: string; port?: number; baseUrl?: string; introspection?: TokenVerifierOptions['introspection'] }): Promise<ToolServer> {
  const host = options.host ?? '127.0.0.1';
  let verifier: ReturnType<typeof createTokenVerifier> | undefined;
  const server = createServer((request: AuthedRequest, response) => {
    verifier!.serveMetadata()(request, response, () => {
      const path = (request.url ?? '/').split('?', 1)[0];
      if (path !== '/mcp') return json(response, 404, { error: 'not_found' });
      verifier!.requireToken({ scopes: ['tools'] })(request, response, (error) => {
        if (error) return json(response, 500, { error: 'server_error' });
        if (request.method !== 'POST') return json(response, 405, { error: 'method_not_allowed' });
        readJson(request).then(
          (call) => json(response, 200, answer(call as Parameters<typeof answer>[0], request.auth!)),
          () => json(response, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } }),
        );
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 3100, host, resolve));
  const baseUrl = (options.baseUrl ?? `http://${host}:${(server.address() as AddressInfo).port}`).replace(/\/+$/, '');
  const resource = `${baseUrl}/mcp`;
  verifier = createTokenVerifier({
    issuer: options.issuer,
    resource,
    baseUrl,
    resourceMetadata: { resourceName: 'Example tools', scopesSupported: ['tools'] },
    ...(options.introspection ? { introspection: options.introspection } : {}),
  });
  return { server, resource, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const introspection =
    env.TOOLS_INTROSPECTION_CLIENT_ID && env.TOOLS_INTROSPECTION_CLIENT_SECRET
      ? { clientId: env.TOOLS_INTROSPECTION_CLIENT_ID, clientSecret: env.TOOLS_INTROSPECTION_CLIENT_SECRET, cacheSeconds: 0 }
      : undefined;
  const tools = await startToolServer({
    issuer: env.DEVICEGATE_ISSUER ?? 'http://127.0.0.1:8080',
    host: env.TOOLS_HOST ?? '127.0.0.1',
    port: Number(env.TOOLS_PORT ?? 3100),
    ...(env.TOOLS_BASE_URL ? { baseUrl: env.TOOLS_BASE_URL } : {}),
    ...(introspection ? { introspection } : {}),
  });
  process.stdout.write(`tool server listening at ${tools.resource}\n`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void tools.close().then(() => process.exit(0)));
}
