// examples/api runs as its own process, the way its README says, and answers requests made with
// devicegate tokens.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as oauth from 'oauth4webapi';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { approvedDeviceCode, discover, insecure, newDpopKey, redeemWithDpop } from '../dpop/support.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dg: TestAppliance;
let api: ChildProcess;
let apiUrl: string;

before(async () => {
  dg = await startTestAppliance({ modules: 'none' });
  api = spawn(process.execPath, ['--import', 'tsx', 'examples/api/server.ts'], {
    cwd: root,
    env: { ...process.env, DEVICEGATE_ISSUER: dg.issuer, API_PORT: '0', API_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Wait for the line that names the port; the child is killed after 30 s if it never comes.
  const timer = setTimeout(() => api.kill('SIGKILL'), 30_000);
  let output = '';
  for await (const chunk of api.stdout!) {
    output += String(chunk);
    const match = /listening on (http:\/\/\S+)/.exec(output);
    if (match) {
      apiUrl = match[1]!;
      break;
    }
  }
  clearTimeout(timer);
  assert.ok(apiUrl, `the example API did not start: ${output}`);
});
after(async () => {
  if (api.exitCode === null) {
    api.kill('SIGTERM');
    await once(api, 'exit');
  }
  await dg.stop();
});

test('the example API answers /health without a token', async () => {
  const response = await fetch(`${apiUrl}/health`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { ok: true });
});

test('the example API refuses /me without a token with 401 and a challenge', async () => {
  const response = await fetch(`${apiUrl}/me`);
  assert.equal(response.status, 401);
  assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /);
});

test('the example API answers /me for a device signed in with DPoP', async () => {
  const as = await discover(dg.issuer);
  const client: oauth.Client = { client_id: 'demo-tv', id_token_signed_response_alg: 'ES256' };
  const dpop = oauth.DPoP(client, (await newDpopKey()).keyPair);
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), dpop);
  const response = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(`${apiUrl}/me`), new Headers(), null, { DPoP: dpop, ...insecure });
  assert.equal(response.status, 200);
  const body = (await response.json()) as Record<string, unknown>;
  assert.equal(body.sub, dg.demoUserId);
  assert.equal(body.token_type, 'DPoP');
});
