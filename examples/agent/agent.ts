// A headless agent: it knows only the tool server's URL. It finds devicegate from the server's
// protected resource metadata (RFC 9728), signs in through the device flow for that one resource
// (RFC 8628, RFC 8707) while a person approves on their phone, calls the tools with its
// DPoP-bound token (RFC 9449), and keeps working until the person signs it out in My devices.
// One JSON object per line on stdout, for whoever supervises it.
//
//   node --import tsx examples/agent/agent.ts http://127.0.0.1:3100/mcp
//
// Environment: AGENT_CLIENT_ID (default example-agent), AGENT_INTERVAL (seconds between calls,
// default 5), AGENT_CALLS (stop after this many calls; default: until signed out).
import { pathToFileURL } from 'node:url';
import { createProof, discoverProtectedResource, startLogin, type DpopKey, type TokenSet } from '@devicegate/device-client';

const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

async function call(url: string, tokens: TokenSet, key: DpopKey | undefined, body: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `${key ? 'DPoP' : 'Bearer'} ${tokens.accessToken}` };
  if (key) headers.dpop = createProof(key, { method: 'POST', url, now: Date.now(), accessToken: tokens.accessToken });
  return fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
}

export async function runAgent(options: { url: string; clientId: string; intervalMs: number; maxCalls?: number }): Promise<'signed_out' | 'done'> {
  const found = await discoverProtectedResource(options.url, { fetch });
  say({ event: 'discovered', resource: found.resource, issuer: found.issuer });
  const login = await startLogin({ issuer: found.issuer, clientId: options.clientId, resource: found.resource, scope: 'tools', deviceName: 'Example agent', channel: 'poll' });
  say({ event: 'code', user_code: login.userCode, verification_uri: login.verificationUri, verification_uri_complete: login.verificationUriComplete });
  const tokens = await login.wait();
  say({ event: 'signed_in', scope: tokens.scope });
  for (let calls = 0; options.maxCalls === undefined || calls < options.maxCalls; calls++) {
    const response = await call(options.url, tokens, login.dpopKey, { jsonrpc: '2.0', id: calls + 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } });
    if (response.status === 401) {
      say({ event: 'signed_out', reason: response.headers.get('www-authenticate') ?? '' });
      return 'signed_out';
    }
    const result = (await response.json()) as { result?: { content?: Array<{ text: string }> } };
    say({ event: 'called', tool: 'whoami', status: response.status, text: result.result?.content?.[0]?.text ?? null });
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
  return 'done';
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2];
  if (!url) {
    process.stderr.write('usage: agent.ts <tool server URL>\n');
    process.exit(2);
  }
  const env = process.env;
  runAgent({
    url,
    clientId: env.AGENT_CLIENT_ID ?? 'example-agent',
    intervalMs: Number(env.AGENT_INTERVAL ?? 5) * 1000,
    ...(env.AGENT_CALLS ? { maxCalls: Number(env.AGENT_CALLS) } : {}),
  }).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`agent: ${(error as Error).message.split('\n')[0]}\n`);
      process.exit(1);
    },
  );
}
