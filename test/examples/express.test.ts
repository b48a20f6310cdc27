// The express recipe (examples/express): an express app that hands /oauth, /.well-known, the
// verification pages and the /push WebSocket to devicegate. A whole device flow runs through the
// express front with openid-client as the device (device authorization, push, approval through the
// real pages, tokens, refresh), and express's own routes, body parser included, keep working.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { startExpressFront, type ExpressFront } from '../../examples/express/server.ts';
import { openWebSocket, upgradeStatus } from '../push/push-client.ts';
import { DEMO_PASSWORD } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { createPageSession, csrfOf, reachConsent, requestIdOf } from '../verification-ui/support.ts';

describe('devicegate inside an express app', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-express-'));
  let front: ExpressFront;
  before(async () => {
    front = await startExpressFront({
      host: '127.0.0.1',
      port: await freePort(),
      devicegate: { dataDir, logLevel: 'silent', demoPassword: DEMO_PASSWORD, push: { mqttPort: await freePort() } },
    });
  });
  after(async () => {
    await front?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("express's own routes answer, its JSON body parser included", async () => {
    assert.deepEqual(await (await fetch(`${front.url}/`)).json(), { app: 'express', signIn: '/device' });
    const echoed = await fetch(`${front.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1 }) });
    assert.deepEqual(await echoed.json(), { received: { a: 1 } });
  });

  test('discovery through express names the express URL as issuer and for every endpoint', async () => {
    const metadata = (await (await fetch(`${front.url}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    assert.equal(metadata.issuer, front.url);
    assert.equal(metadata.device_authorization_endpoint, `${front.url}/oauth/device_authorization`);
    assert.equal(metadata.devicegate_push_websocket_endpoint, `${front.url.replace(/^http/, 'ws')}/push`);
  });

  test('a device signs in through the express front: authorization, push, approval on the pages, tokens, refresh', async () => {
    const config = await client.discovery(new URL(front.url), 'demo-tv', undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const authorization = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
    assert.equal(authorization.verification_uri, `${front.url}/device`);

    const device = await openWebSocket(`${front.url.replace(/^http/, 'ws')}/push`, { deviceCode: authorization.device_code });
    await device.next('pending');
    const polling = client.pollDeviceAuthorizationGrant(config, authorization);

    // The person: code, sign-in and consent on the real pages, served through express; the
    // optional scopes stay ticked, as a person who just presses Approve leaves them.
    const person = createPageSession(front.url);
    const consent = await reachConsent(person, authorization.user_code, { username: 'demo', password: DEMO_PASSWORD });
    const form = new URLSearchParams({ csrf: csrfOf(consent.text), request: requestIdOf(consent.text), decision: 'approve' });
    for (const scope of ['openid', 'profile', 'offline_access']) form.append('scope', scope);
    const approved = await person.request('/device/consent', { form });
    assert.equal(approved.status, 303, approved.text.slice(0, 200));
    assert.match(approved.location ?? '', /^\/device\/done/);
    await device.next('approved');

    const tokens = await polling;
    assert.ok(tokens.access_token);
    assert.equal(tokens.claims()?.iss, front.url);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(refreshed.access_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  });

  test("devicegate's errors come through express as devicegate's JSON; an upgrade elsewhere is refused", async () => {
    const wrongMethod = await fetch(`${front.url}/oauth/token`);
    assert.equal(wrongMethod.status, 405);
    // OPTIONS answers the CORS preflight (docs/security.md CORS-ORIGIN).
    assert.equal(wrongMethod.headers.get('allow'), 'POST, OPTIONS');
    assert.equal(((await wrongMethod.json()) as { error: string }).error, 'invalid_request');
    assert.equal(await upgradeStatus(`${front.url.replace(/^http/, 'ws')}/elsewhere`), 404);
    // A path that only starts like the pages' is express's (its 404), not devicegate's.
    assert.match(await (await fetch(`${front.url}/devices`)).text(), /Cannot GET \/devices/);
  });
});
