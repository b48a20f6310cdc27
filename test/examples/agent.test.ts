// examples/agent as its README says: the tool server behind the resource-server helper, and the
// headless agent as its own process knowing only the server's URL. The person approves on the
// pages' real forms, the agent calls a tool for them, and stops when the person signs it out in
// My devices.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startToolServer, type ToolServer } from '../../examples/agent/tool-server.ts';
import { startTestAppliance, DEMO_PASSWORD, type TestAppliance } from '../support/appliance.ts';
import { createPageSession, csrfOf, reachConsent, requestIdOf, ROOMY_LIMITS } from '../verification-ui/support.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const INTROSPECTOR = { clientId: 'example-tools', clientSecret: 'example-tools-secret-0123456789' };
let dg: TestAppliance;
let tools: ToolServer;

before(async () => {
  dg = await startTestAppliance({ overrides: { limits: ROOMY_LIMITS } });
  await dg.addClient({ clientId: 'example-agent', name: 'Example agent', pollInterval: 1, scopes: ['tools'] });
  await dg.addClient({ clientId: INTROSPECTOR.clientId, mayIntrospect: true, grantTypes: ['client_credentials'], scopes: [] }, INTROSPECTOR.clientSecret);
  tools = await startToolServer({ issuer: dg.issuer, port: 0, introspection: { ...INTROSPECTOR, cacheSeconds: 0 } });
  await dg.appliance.context.store.resources.put({ resource: tools.resource, name: 'Example tools', createdAt: dg.appliance.context.clock.now() });
});
after(async () => {
  await tools?.close();
  await dg?.stop();
});

test('the agent finds devicegate from the tool server’s URL, signs in, calls a tool, and is signed out from My devices', async (t) => {
  const agent = spawn(process.execPath, ['--import', 'tsx', 'examples/agent/agent.ts', tools.resource], {
    cwd: root,
    env: { ...process.env, AGENT_INTERVAL: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => agent.kill('SIGKILL'));
  let stderr = '';
  agent.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => agent.on('close', resolve));
  const person = createPageSession(dg.issuer);
  const events: Array<Record<string, unknown>> = [];
  let signedOut = false;
  for await (const line of createInterface({ input: agent.stdout })) {
    const event = JSON.parse(line) as Record<string, unknown>;
    events.push(event);
    if (event.event === 'discovered') {
      assert.equal(event.issuer, dg.issuer);
      assert.equal(event.resource, tools.resource);
    }
    if (event.event === 'code') {
      const consent = await reachConsent(person, event.user_code as string, { username: 'demo', password: DEMO_PASSWORD });
      assert.match(consent.text, /Example tools/, 'consent names the service');
      const approved = await person.request('/device/consent', { form: { csrf: csrfOf(consent.text), request: requestIdOf(consent.text), decision: 'approve', scope: 'tools' } });
      assert.equal(approved.status, 303);
    }
    if (event.event === 'called' && !signedOut) {
      assert.equal(event.text, dg.demoUserId, 'the tool acted for the person who approved');
      const devices = await person.request('/device/devices');
      const grant = /name="grant" value="([^"]+)"/.exec(devices.text)?.[1];
      assert.ok(grant, 'My devices lists the agent');
      assert.match(devices.text, /Example agent/);
      const out = await person.request('/device/devices/sign-out', { form: { csrf: csrfOf(devices.text), grant } });
      assert.equal(out.status, 303);
      signedOut = true;
    }
  }
  assert.equal(await exited, 0, stderr);
  assert.deepEqual([...new Set(events.map((event) => event.event))], ['discovered', 'code', 'signed_in', 'called', 'signed_out']);
  assert.match(String(events.at(-1)!.reason), /invalid_token/);
});

test('the tool server refuses a call without a token, naming its metadata', async () => {
  const response = await fetch(tools.resource, { method: 'POST', body: '{}' });
  assert.equal(response.status, 401);
  assert.match(response.headers.get('www-authenticate') ?? '', /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
});
