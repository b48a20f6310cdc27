// The approval API (server/src/endpoints/approval-api.ts, docs/approval-api.yaml) called with plain
// fetch the way a product's own site does, while a real device (openid-client) waits on the token
// endpoint: it approves as if the person had used the pages, lists and signs out devices, and
// keeps every rule of the pages (guess limits per calling client, scopes only narrowed, other
// products' codes unknown, 403 without the permission, every call audited).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { createVerificationPort } from '@devicegate/server';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { deviceConfig, startDeviceFlow, type DeviceFlow, type Outcome } from '../verification-ui/support.ts';
import { basicAuthorization } from './http.ts';

const SECRET = 'a-product-site-secret-of-some-length';
/** Small, so the guesser test meets it; each test uses clients of its own, as buckets are per client. */
const PER_CLIENT = 6;

describe('approval API', () => {
  let dg: TestAppliance;
  let device: client.Configuration;
  let sites = 0;

  before(async () => {
    dg = await startTestAppliance({
      overrides: { pollInterval: 1, limits: { userCodeEntryPerClient: { points: PER_CLIENT, duration: 60 } } },
    });
    device = await deviceConfig(dg.issuer);
    await dg.addClient({ clientId: 'other-tv', name: 'Other TV' });
  });
  after(() => dg?.stop());

  /** A confidential client of a product's site, allowed to approve demo-tv's devices (or not). */
  async function newSite(approvesDevicesOf: string[] = ['demo-tv']): Promise<{ clientId: string; call: typeof call }> {
    const clientId = `site-${++sites}`;
    await dg.addClient({ clientId, name: `Site ${sites}`, grantTypes: ['client_credentials'], approvesDevicesOf }, SECRET);
    return { clientId, call: (method, path, body, secret = SECRET) => call(method, path, body, clientId, secret) };
  }

  async function call(method: string, path: string, body: unknown, clientId?: string, secret = SECRET) {
    const response = await fetch(`${dg.issuer}/api/v1${path}`, {
      method,
      headers: {
        ...(clientId ? { authorization: basicAuthorization(clientId, secret) } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
  }

  async function waitingDevice(scope = 'openid profile offline_access', clientId = 'demo-tv'): Promise<DeviceFlow> {
    const config = clientId === 'demo-tv' ? device : await deviceConfig(dg.issuer, clientId);
    return startDeviceFlow(config, { scope, device_name: 'Living room TV' });
  }

  function tokensOf(outcome: Outcome) {
    assert.equal(outcome.kind, 'tokens', outcome.kind === 'error' ? `the device got ${outcome.error}` : '');
    return (outcome as Extract<Outcome, { kind: 'tokens' }>).tokens;
  }

  async function auditOf(clientId: string) {
    await dg.appliance.context.audit.flush?.();
    const events = await dg.appliance.context.store.auditEvents.list({ limit: 10_000 });
    return events.filter((event) => event.event === 'approval_api_called' && event.fields.clientId === clientId);
  }

  test('a permitted site approves a waiting device for its subject: the device is pushed and gets tokens for the linked user', async () => {
    const site = await newSite();
    const flow = await waitingDevice();
    const lookup = await site.call('POST', '/device-requests/lookup', { user_code: flow.authorization.user_code });
    assert.equal(lookup.status, 200);
    assert.equal(lookup.body.client_id, 'demo-tv');
    assert.equal(lookup.body.device_name, 'Living room TV');
    assert.equal(lookup.body.scope, 'openid profile offline_access');

    const approved = await site.call('POST', '/device-requests/approve', {
      user_code: flow.authorization.user_code.toLowerCase(),
      subject: 'customer-42',
      claims: { name: 'Ada Lovelace', email: 'ada@example.com', email_verified: true },
    });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.deepEqual(approved.body, { status: 'approved', client_id: 'demo-tv', device_name: 'Living room TV', scope: 'openid profile offline_access' });
    assert.equal(approved.headers.get('cache-control'), 'no-store');

    const tokens = tokensOf(await flow.outcome);
    const idToken = decodeJwt(tokens.id_token!);
    const linked = await dg.appliance.context.store.users.findByIdentity({ issuer: `urn:devicegate:client:${site.clientId}`, subject: 'customer-42' });
    assert.ok(linked);
    assert.equal(idToken.sub, linked.id);
    assert.equal(idToken.name, 'Ada Lovelace');
    // The claims the site sent are the user's profile (the e-mail shows only with scope email).
    const user = await dg.appliance.context.store.users.get(linked.id);
    assert.deepEqual([user?.name, user?.email, user?.emailVerified], ['Ada Lovelace', 'ada@example.com', true]);

    // Approving the same code again: it is no longer waiting, and says so like an unknown code.
    const again = await site.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'customer-42' });
    assert.equal(again.status, 404);
    assert.equal(again.body.error, 'unknown_user_code');
  });

  test('a deny from the site tells the device access_denied', async () => {
    const site = await newSite();
    const flow = await waitingDevice('openid');
    const denied = await site.call('POST', '/device-requests/deny', { user_code: flow.authorization.user_code });
    assert.deepEqual([denied.status, denied.body], [200, { status: 'denied', client_id: 'demo-tv' }]);
    assert.deepEqual(await flow.outcome, { kind: 'error', error: 'access_denied' });
  });

  test('a subject is one user after three approvals, keyed by (calling client, subject): another site with the same subject and e-mail is another user', async () => {
    const site = await newSite();
    const claims = { name: 'Grace', email: 'grace@example.com', email_verified: true };
    const subjects: string[] = [];
    for (let round = 0; round < 3; round++) {
      const flow = await waitingDevice('openid');
      assert.equal((await site.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'grace', claims })).status, 200);
      subjects.push(decodeJwt(tokensOf(await flow.outcome).id_token!).sub!);
    }
    assert.equal(new Set(subjects).size, 1);
    const users = (await dg.appliance.context.store.users.list()).filter((user) => user.email === 'grace@example.com');
    assert.equal(users.length, 1);

    const otherSite = await newSite();
    const flow = await waitingDevice('openid');
    assert.equal((await otherSite.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'grace', claims })).status, 200);
    assert.notEqual(decodeJwt(tokensOf(await flow.outcome).id_token!).sub, subjects[0]);
  });

  test('scopes only narrow: one the device did not ask for is refused, an unticked one is left out, openid stays', async () => {
    const site = await newSite();
    const flow = await waitingDevice('openid profile offline_access');
    const beyond = await site.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 's', scope: 'openid email' });
    assert.equal(beyond.status, 400);
    assert.equal(beyond.body.error, 'invalid_scope');
    const narrowed = await site.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 's', scope: 'profile' });
    assert.equal(narrowed.status, 200);
    assert.equal(narrowed.body.scope, 'openid profile');
    const tokens = tokensOf(await flow.outcome);
    assert.equal(tokens.scope, 'openid profile');
    assert.equal(tokens.refresh_token, undefined);
  });

  test("lists a subject's signed-in devices and signs one out: its refresh token stops working", async () => {
    const site = await newSite();
    const flows = [await waitingDevice(), await waitingDevice()];
    for (const flow of flows) {
      assert.equal((await site.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'lin' })).status, 200);
    }
    const [first, second] = await Promise.all(flows.map(async (flow) => tokensOf(await flow.outcome)));
    const listed = await site.call('GET', '/subjects/lin/devices', undefined);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.devices.length, 2);
    assert.ok(listed.body.devices.every((entry: { client_id: string; device_name: string }) => entry.client_id === 'demo-tv' && entry.device_name === 'Living room TV'));
    assert.deepEqual((await site.call('GET', '/subjects/nobody/devices', undefined)).body, { devices: [] });

    const grantOfFirst = (await dg.appliance.context.store.accessTokens.findByJti(decodeJwt(first!.access_token).jti!))!.grantId!;
    assert.equal((await site.call('DELETE', `/subjects/lin/devices/${grantOfFirst}`, undefined)).status, 204);
    await assert.rejects(client.refreshTokenGrant(device, first!.refresh_token!), (error: { error?: string }) => error.error === 'invalid_grant');
    await client.refreshTokenGrant(device, second!.refresh_token!);
    assert.equal((await site.call('GET', '/subjects/lin/devices', undefined)).body.devices.length, 1);

    // Signed out already, another subject's, or another site's subject: all unknown.
    assert.equal((await site.call('DELETE', `/subjects/lin/devices/${grantOfFirst}`, undefined)).status, 404);
    const [remaining] = (await site.call('GET', '/subjects/lin/devices', undefined)).body.devices;
    assert.equal((await site.call('DELETE', `/subjects/someone-else/devices/${remaining.grant_id}`, undefined)).status, 404);
    const otherSite = await newSite();
    assert.equal((await otherSite.call('DELETE', `/subjects/lin/devices/${remaining.grant_id}`, undefined)).status, 404);
    assert.deepEqual((await otherSite.call('GET', '/subjects/lin/devices', undefined)).body, { devices: [] });
  });

  test('a client without the approval permission gets 403 on every call; without credentials 401; errors are JSON', async () => {
    const plain = await newSite([]);
    const flow = await waitingDevice();
    const calls: Array<[string, string, unknown]> = [
      ['POST', '/device-requests/lookup', { user_code: flow.authorization.user_code }],
      ['POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'x' }],
      ['POST', '/device-requests/deny', { user_code: flow.authorization.user_code }],
      ['GET', '/subjects/x/devices', undefined],
      ['DELETE', '/subjects/x/devices/some-grant', undefined],
    ];
    for (const [method, path, body] of calls) {
      const refused = await plain.call(method, path, body);
      assert.equal(refused.status, 403, `${method} ${path}`);
      assert.equal(refused.body.error, 'unauthorized_client');
      assert.match(refused.headers.get('content-type') ?? '', /^application\/json/);
      const anonymous = await call(method, path, body);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.error, 'invalid_client');
      const wrongSecret = await plain.call(method, path, body, 'not-the-secret-at-all');
      assert.equal(wrongSecret.status, 401);
    }
    const malformed = await fetch(`${dg.issuer}/api/v1/device-requests/approve`, {
      method: 'POST',
      headers: { authorization: basicAuthorization((await newSite()).clientId, SECRET), 'content-type': 'application/json' },
      body: '{not json',
    });
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { error: string }).error, 'invalid_request');
    // The device was never decided by any of that.
    flow.abort();
    assert.equal((await dg.appliance.context.store.deviceGrants.findLiveByUserCode(flow.authorization.user_code.replace('-', ''), Date.now()))?.status, 'pending');
  });

  test("a code of a client the caller may not approve is answered exactly like an unknown one, and is not decided", async () => {
    const site = await newSite(['demo-tv']);
    const foreign = await waitingDevice('openid', 'other-tv');
    const unknown = await site.call('POST', '/device-requests/approve', { user_code: 'BCDF-GHJK', subject: 'x' });
    const theirs = await site.call('POST', '/device-requests/approve', { user_code: foreign.authorization.user_code, subject: 'x' });
    assert.equal(theirs.status, unknown.status);
    assert.deepEqual(theirs.body, unknown.body);
    assert.equal(theirs.status, 404);
    const theirLookup = await site.call('POST', '/device-requests/lookup', { user_code: foreign.authorization.user_code });
    assert.deepEqual(theirLookup.body, unknown.body);
    // The site allowed for other-tv approves it.
    const allowed = await newSite(['other-tv']);
    assert.equal((await allowed.call('POST', '/device-requests/approve', { user_code: foreign.authorization.user_code, subject: 'x' })).status, 200);
    tokensOf(await foreign.outcome);
  });

  test('a guesser is limited per calling client: once its bucket is spent even a live code gets 429 with Retry-After, and other sites are not held back', async () => {
    const guesser = await newSite();
    const flow = await waitingDevice();
    for (let guess = 0; guess < PER_CLIENT; guess++) {
      const miss = await guesser.call('POST', '/device-requests/approve', { user_code: `BCDF${'GHJKLMNP'.slice(guess, guess + 4).padEnd(4, 'Q')}`, subject: 'x' });
      assert.equal(miss.status, 404);
    }
    const limited = await guesser.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'x' });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, 'slow_down');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal((await guesser.call('POST', '/device-requests/lookup', { user_code: flow.authorization.user_code })).status, 429);

    const honest = await newSite();
    assert.equal((await honest.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'x' })).status, 200);
    tokensOf(await flow.outcome);

    await dg.appliance.context.audit.flush?.();
    const limitedEvents = (await dg.appliance.context.store.auditEvents.list({ limit: 10_000 })).filter(
      (event) => event.event === 'rate_limited' && event.fields.limit === 'userCodeEntryPerClient' && event.fields.key === guesser.clientId,
    );
    assert.equal(limitedEvents.length, 1);
  });

  test('every call is audited with the caller, the call and its outcome, never the user code', async () => {
    const site = await newSite();
    const flow = await waitingDevice();
    await site.call('POST', '/device-requests/lookup', { user_code: flow.authorization.user_code });
    await site.call('POST', '/device-requests/lookup', { user_code: 'BCDF-GHJK' });
    await site.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'audited' });
    await site.call('GET', '/subjects/audited/devices', undefined);
    await site.call('DELETE', '/subjects/audited/devices/nope', undefined);
    await site.call('POST', '/device-requests/approve', { user_code: 'BCDF-GHJK', subject: 'audited' }, 'wrong-secret-wrong-secret');
    const events = await auditOf(site.clientId);
    assert.deepEqual(
      events.map((event) => [event.fields.call, event.fields.outcome]),
      [
        ['lookup', 'ok'],
        ['lookup', 'unknown_user_code'],
        ['approve', 'ok'],
        ['list_devices', 'ok'],
        ['sign_out_device', 'unknown_device'],
      ],
    );
    assert.ok(events.every((event) => event.fields.address === '127.0.0.1'));
    assert.ok(!JSON.stringify(events).includes(flow.authorization.user_code.replace('-', '')));
    assert.ok(!JSON.stringify(events).includes(flow.authorization.user_code));
    // The failed authentication is recorded too, without a client (none was authenticated).
    const all = await dg.appliance.context.store.auditEvents.list({ limit: 10_000 });
    assert.ok(all.some((event) => event.event === 'approval_api_called' && event.fields.outcome === 'invalid_client' && event.fields.clientId === null));
    tokensOf(await flow.outcome);
  });

  test('the OpenAPI description (docs/approval-api.yaml) names exactly the operations the appliance serves', async () => {
    const description = readFileSync(new URL('../../docs/approval-api.yaml', import.meta.url), 'utf8');
    const operations: string[] = [];
    let path: string | null = null;
    for (const line of description.split('\n')) {
      const pathLine = /^  (\/[^:]+):$/.exec(line);
      if (pathLine) path = pathLine[1]!;
      else if (/^\S/.test(line)) path = null;
      const method = /^    (get|post|put|patch|delete):$/.exec(line);
      if (path && method) operations.push(`${method[1]!.toUpperCase()} /api/v1${path.replace(/\{(\w+)\}/g, ':$1')}`);
    }
    assert.deepEqual(operations.sort(), [
      'DELETE /api/v1/subjects/:subject/devices/:grant_id',
      'GET /api/v1/subjects/:subject/devices',
      'POST /api/v1/device-requests/approve',
      'POST /api/v1/device-requests/deny',
      'POST /api/v1/device-requests/lookup',
    ]);
    for (const operation of operations) {
      const [method, url] = operation.split(' ') as [string, string];
      assert.ok(dg.appliance.app.hasRoute({ method: method as 'GET', url }), operation);
    }
  });

  test('a user the API made has no password to sign in with on the pages', async () => {
    const site = await newSite();
    const flow = await waitingDevice('openid');
    await site.call('POST', '/device-requests/approve', { user_code: flow.authorization.user_code, subject: 'nopass' });
    tokensOf(await flow.outcome);
    const user = (await dg.appliance.context.store.users.list()).find((candidate) => candidate.username === `${site.clientId}:nopass`);
    assert.ok(user);
    const port = createVerificationPort(dg.appliance.context);
    for (const password of ['x', ' ']) {
      assert.deepEqual(await port.signInWithPassword({ username: user.username, password, address: '127.0.0.1' }), { kind: 'failed' });
    }
  });
});
