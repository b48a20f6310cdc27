// CORS per client (docs/security.md CORS-ORIGIN, CORS-PUBLIC, CORS-PAGES), on the real appliance:
// what a browser app on a listed origin may read, and that a request from any other origin is
// refused before it changes anything (no grant created, no poll counted, no code redeemed, no
// token revoked).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parsePushMessage, type PushMessage } from '@devicegate/protocol';
import WebSocket from 'ws';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { deviceAuthorize, pollToken, postForm, request, type DeviceAuthorization } from './http.ts';

const LISTED = 'http://127.0.0.1:8080';
const OTHER = 'http://127.0.0.1:9090';
const CLIENT = 'web-tv';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance();
  await dg.addClient({ clientId: CLIENT, allowedOrigins: [LISTED], scopes: ['openid', 'profile', 'offline_access'] });
});
after(() => dg.stop());

const authorize = (): Promise<DeviceAuthorization> => deviceAuthorize(dg, { client_id: CLIENT, scope: 'openid profile offline_access' });
const approve = async (authorization: DeviceAuthorization) =>
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
const preflight = (path: string, origin: string, headers = 'dpop, authorization') =>
  request(dg.issuer, path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers } });
async function signIn(): Promise<Record<string, string>> {
  const authorization = await authorize();
  await approve(authorization);
  const result = await pollToken(dg, CLIENT, authorization.device_code, { origin: LISTED });
  assert.equal(result.status, 200, JSON.stringify(result.body));
  return result.body;
}

describe('public documents', () => {
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/oauth/jwks']) {
    test(`${path} is readable from any origin`, async () => {
      const result = await request(dg.issuer, path, { headers: { origin: OTHER } });
      assert.equal(result.status, 200);
      assert.equal(result.headers.get('access-control-allow-origin'), '*');
    });
  }
});

describe('preflights of the client endpoints', () => {
  for (const path of ['/oauth/device_authorization', '/oauth/token', '/oauth/revoke', '/oauth/userinfo']) {
    test(`${path}: a listed origin may send DPoP and Authorization headers`, async () => {
      const result = await preflight(path, LISTED);
      assert.equal(result.status, 204);
      assert.equal(result.headers.get('access-control-allow-origin'), LISTED);
      assert.match(result.headers.get('access-control-allow-headers') ?? '', /\bDPoP\b/);
      assert.match(result.headers.get('access-control-allow-headers') ?? '', /\bAuthorization\b/);
      assert.match(result.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/);
      assert.match(result.headers.get('vary') ?? '', /Origin/);
    });
    test(`${path}: an origin no client lists gets no CORS permission`, async () => {
      const result = await preflight(path, OTHER);
      assert.equal(result.headers.get('access-control-allow-origin'), null);
      assert.equal(result.headers.get('access-control-allow-headers'), null);
    });
  }
  test('introspection (server to server) answers no preflight', async () => {
    const result = await preflight('/oauth/introspect', LISTED);
    assert.equal(result.status, 405);
    assert.equal(result.headers.get('access-control-allow-origin'), null);
  });
});

describe('device authorization', () => {
  test('from a listed origin the answer is readable by that origin and exposes DPoP-Nonce', async () => {
    const result = await postForm(dg.issuer, '/oauth/device_authorization', { client_id: CLIENT }, { origin: LISTED });
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('access-control-allow-origin'), LISTED);
    assert.match(result.headers.get('access-control-expose-headers') ?? '', /DPoP-Nonce/);
  });
  test('from an unlisted origin it is refused, unreadable, and creates no grant', async () => {
    await dg.appliance.context.audit.flush?.();
    const before = (await dg.appliance.context.store.auditEvents.tail(1))[0]?.id ?? 0;
    const result = await postForm(dg.issuer, '/oauth/device_authorization', { client_id: CLIENT }, { origin: OTHER });
    assert.equal(result.status, 403);
    assert.equal(result.body.error, 'unauthorized_client');
    assert.equal(result.headers.get('access-control-allow-origin'), null);
    assert.equal(result.body.device_code, undefined);
    await dg.appliance.context.audit.flush?.();
    const since = await dg.appliance.context.store.auditEvents.list({ afterId: before, limit: 100 });
    assert.deepEqual(since.filter((event) => event.event === 'device_authorized'), []);
  });
  test("a client that lists no origin refuses every browser origin, even another client's", async () => {
    const result = await postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'demo-tv' }, { origin: LISTED });
    assert.equal(result.status, 403);
    assert.equal(result.headers.get('access-control-allow-origin'), null);
  });
  test('a device (no Origin header) is not affected', async () => {
    const result = await postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'demo-tv' });
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('access-control-allow-origin'), null);
  });
});

describe('token endpoint', () => {
  test('a poll from a listed origin reads authorization_pending', async () => {
    const authorization = await authorize();
    const result = await pollToken(dg, CLIENT, authorization.device_code, { origin: LISTED });
    assert.equal(result.status, 400);
    assert.equal(result.body.error, 'authorization_pending');
    assert.equal(result.headers.get('access-control-allow-origin'), LISTED);
  });
  test('a poll from an unlisted origin is not counted: the right poll right after is still in time', async () => {
    const authorization = await authorize();
    const refused = await pollToken(dg, CLIENT, authorization.device_code, { origin: OTHER });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    // RFC 8628 §3.5: the first poll is in time however soon; had the refused one counted, this
    // would be slow_down.
    const result = await pollToken(dg, CLIENT, authorization.device_code, { origin: LISTED });
    assert.equal(result.body.error, 'authorization_pending');
  });
  test('an approved code polled from an unlisted origin is not redeemed: the right app still gets the tokens', async () => {
    const authorization = await authorize();
    await approve(authorization);
    const refused = await pollToken(dg, CLIENT, authorization.device_code, { origin: OTHER });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.access_token, undefined);
    const result = await pollToken(dg, CLIENT, authorization.device_code, { origin: LISTED });
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.ok(result.body.access_token);
    assert.equal(result.headers.get('access-control-allow-origin'), LISTED);
  });
  test('a refresh from an unlisted origin issues nothing and leaves the refresh token usable', async () => {
    const tokens = await signIn();
    const refused = await postForm(dg.issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: CLIENT, refresh_token: tokens.refresh_token! }, { origin: OTHER });
    assert.equal(refused.status, 403);
    const result = await postForm(dg.issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: CLIENT, refresh_token: tokens.refresh_token! }, { origin: LISTED });
    assert.equal(result.status, 200, JSON.stringify(result.body));
  });
});

describe('revocation and userinfo', () => {
  test('a revocation from an unlisted origin revokes nothing', async () => {
    const tokens = await signIn();
    const refused = await postForm(dg.issuer, '/oauth/revoke', { client_id: CLIENT, token: tokens.refresh_token! }, { origin: OTHER });
    assert.equal(refused.status, 403);
    const userinfo = await request(dg.issuer, '/oauth/userinfo', { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(userinfo.status, 200);
    const revoked = await postForm(dg.issuer, '/oauth/revoke', { client_id: CLIENT, token: tokens.refresh_token! }, { origin: LISTED });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.headers.get('access-control-allow-origin'), LISTED);
  });
  test("userinfo is readable by an origin the token's client lists, refused to any other", async () => {
    const tokens = await signIn();
    const listed = await request(dg.issuer, '/oauth/userinfo', { headers: { authorization: `Bearer ${tokens.access_token}`, origin: LISTED } });
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('access-control-allow-origin'), LISTED);
    const other = await request(dg.issuer, '/oauth/userinfo', { headers: { authorization: `Bearer ${tokens.access_token}`, origin: OTHER } });
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });
});

describe('verification pages', () => {
  test('never carry a CORS header, not even for a listed origin', async () => {
    const inits: RequestInit[] = [{ headers: { origin: LISTED } }, { method: 'OPTIONS', headers: { origin: LISTED, 'access-control-request-method': 'POST' } }];
    for (const init of inits) {
      const result = await request(dg.issuer, '/device', init);
      assert.equal(result.headers.get('access-control-allow-origin'), null);
    }
  });
});

describe('WebSocket push', () => {
  async function subscribe(authorization: DeviceAuthorization & { push?: { websocket?: string } }, origin?: string): Promise<PushMessage> {
    const socket = new WebSocket(authorization.push!.websocket!, origin ? { origin } : {});
    try {
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      socket.send(JSON.stringify({ type: 'subscribe', device_code: authorization.device_code }));
      const data = await new Promise<WebSocket.RawData>((resolve, reject) => {
        socket.once('message', resolve).once('error', reject);
        setTimeout(() => reject(new Error('no push message within 15 s')), 15_000).unref();
      });
      return parsePushMessage(data.toString())!;
    } finally {
      socket.close();
    }
  }
  test("refuses a browser origin the grant's client does not list", async () => {
    const message = await subscribe(await authorize(), OTHER);
    assert.equal(message.type, 'error');
    assert.equal((message as { error?: string }).error, 'unauthorized_client');
  });
  test('accepts a listed origin and a device without Origin', async () => {
    const authorization = await authorize();
    assert.equal((await subscribe(authorization, LISTED)).type, 'pending');
    assert.equal((await subscribe(authorization)).type, 'pending');
  });
});
