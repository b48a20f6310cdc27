/**
 * `devicegate-device login --resource <API URL>` with no issuer: the device client reads the API's
 * challenge and protected resource metadata (RFC 9728), then the issuer's metadata (RFC 8414),
 * signs in for that resource (RFC 8707) with the person approving in Chromium, and calls the API
 * with its DPoP-bound token.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { DeviceCliEvent } from '@devicegate/protocol';
import { decodeJwt } from 'jose';
import { createTokenVerifier, type TokenVerifier } from '@devicegate/server/resource-server';
import type { TestAppliance } from '../support/appliance.ts';
import { cliProcess } from './support/cli.ts';
import { decide, startDeviceAppliance } from './support/e2e.ts';
import { deviceEnv, tempDir } from './support/temp.ts';

const CLIENT_ID = 'e2e-agent';
let dg: TestAppliance;
let api: Server;
let resource: string;

before(async () => {
  dg = await startDeviceAppliance();
  await dg.addClient({ clientId: CLIENT_ID, name: 'E2E agent', pollInterval: 1, scopes: ['offline_access', 'tools'] });
  let verifier: TokenVerifier | undefined;
  api = createServer((request, response) =>
    verifier!.serveMetadata()(request, response, () =>
      verifier!.requireToken({ scopes: ['tools'] })(request, response, () => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ tools: ['echo'], for: (request as { auth?: { sub: string } }).auth?.sub }));
      }),
    ),
  );
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  resource = `${origin}/mcp`;
  verifier = createTokenVerifier({ issuer: dg.issuer, resource, baseUrl: origin });
  await dg.appliance.context.store.resources.put({ resource, name: 'E2E tools', createdAt: dg.appliance.context.clock.now() });
});
after(async () => {
  await new Promise((resolve) => api?.close(resolve));
  await dg?.stop();
});

test('login --resource with no issuer finds devicegate from the API, signs in for it, and the API answers', async (t) => {
  const env = deviceEnv(tempDir());
  const events: DeviceCliEvent[] = [];
  let decided: Promise<void> = Promise.resolve();
  const login = await cliProcess(['login', '--json', '--resource', resource, '--client-id', CLIENT_ID, '--scope', 'offline_access tools', '--channel', 'poll'], env, {
    signal: t.signal,
    onStdoutLine(line) {
      const event = JSON.parse(line) as DeviceCliEvent;
      events.push(event);
      if (event.event === 'code') {
        assert.ok(event.verification_uri.startsWith(dg.issuer), 'the code is for the issuer the API named');
        decided = decide(dg, { userCode: event.user_code, verificationUri: event.verification_uri, ...(event.verification_uri_complete ? { verificationUriComplete: event.verification_uri_complete } : {}) }, 'approve', t);
      }
    },
  });
  await decided;
  assert.equal(login.code, 0, login.stderr);
  assert.deepEqual(events.map((event) => event.event), ['code', 'approved', 'stored']);

  const token = (await cliProcess(['token'], env)).stdout.trim();
  assert.equal(decodeJwt(token).aud, resource, 'the access token is for exactly this API');
  const proof = await cliProcess(['proof', '--url', resource], env);
  assert.equal(proof.code, 0, proof.stderr);
  const called = await fetch(resource, { headers: { authorization: `DPoP ${token}`, dpop: proof.stdout.trim() } });
  assert.equal(called.status, 200, await called.clone().text());
  assert.deepEqual(await called.json(), { tools: ['echo'], for: dg.demoUserId });
});

test('login --resource refuses an API whose metadata names another issuer than --issuer', async () => {
  const env = deviceEnv(tempDir());
  const result = await cliProcess(['login', '--resource', resource, '--issuer', 'http://127.0.0.1:1', '--client-id', CLIENT_ID], env);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^devicegate-device: .* is protected by /);
});
