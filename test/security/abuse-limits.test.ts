// Abuse limits on the OAuth endpoints (RFC 8628 §5.2; docs/security.md AUTHZ-LIMITED): a flood from
// one address is throttled with 429 + Retry-After while other addresses are served, and the refusal
// lands in the audit log once per window. Addresses are simulated with X-Forwarded-For, so only
// this test's appliance trusts the proxy header.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { basicAuthorization, pollToken, postForm, request } from '../server/http.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance({
    overrides: {
      trustProxy: true,
      // Defaults for the device authorization flood; small buckets elsewhere keep the test short.
      limits: {
        tokenPerAddress: { points: 20, duration: 60 },
        revocationPerClientAndAddress: { points: 5, duration: 60 },
        introspectionPerClient: { points: 5, duration: 60 },
        userinfoPerAddress: { points: 5, duration: 60 },
        metadataPerAddress: { points: 5, duration: 60 },
        clientAuthenticationFailuresPerAddress: { points: 5, duration: 60 },
      },
    },
  });
});
after(() => dg.stop());

const from = (address: string) => ({ 'x-forwarded-for': address });

async function auditEvents(event: string) {
  await dg.appliance.context.audit.flush?.();
  const all = await dg.appliance.context.store.auditEvents.list({ limit: 10_000 });
  return all.filter((entry) => entry.event === event);
}

function assertThrottled(result: { status: number; headers: Headers; body: any }) {
  assert.equal(result.status, 429, JSON.stringify(result.body));
  assert.equal(result.body.error, 'slow_down');
  assert.equal(typeof result.body.error_description, 'string');
  const retryAfter = Number(result.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${result.headers.get('retry-after')}`);
  assert.equal(result.headers.get('cache-control'), 'no-store');
}

describe('device authorization', () => {
  test('a flood from one address is throttled at the default limit while another address is served', async () => {
    const { points } = dg.appliance.context.config.limits.deviceAuthorizationPerClientAndAddress;
    const flooder = '203.0.113.7';
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof postForm>> | undefined;
    for (let i = 0; i < points + 10; i++) {
      const result = await postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'demo-tv' }, from(flooder));
      statuses.push(result.status);
      if (result.status === 429) refused ??= result;
    }
    assert.deepEqual(statuses.slice(0, points), Array(points).fill(200), 'the first requests of the window are served');
    assert.deepEqual(statuses.slice(points), Array(10).fill(429), 'every request beyond the limit is refused');
    assertThrottled(refused!);

    const other = await postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'demo-tv' }, from('198.51.100.9'));
    assert.equal(other.status, 200, 'another address is still served');
    assert.ok(other.body.device_code && other.body.user_code);
  });

  test('the refusal is recorded once per window in the audit log, naming the limit and the address', async () => {
    const events = (await auditEvents('rate_limited')).filter((entry) => entry.fields.limit === 'deviceAuthorizationPerClientAndAddress');
    assert.equal(events.length, 1, 'ten refused requests, one audit event');
    assert.equal(events[0]!.fields.key, 'demo-tv 203.0.113.7');
    assert.equal(events[0]!.fields.path, '/oauth/device_authorization');
  });

  test('codes refused to a throttled address were never created', async () => {
    const { points } = dg.appliance.context.config.limits.deviceAuthorizationPerClientAndAddress;
    const created = (await auditEvents('device_authorized')).filter((entry) => entry.fields.ip === '203.0.113.7');
    assert.equal(created.length, points);
  });
});

describe('token endpoint', () => {
  test('polls beyond slow_down are capped per address, other addresses keep polling', async () => {
    const authorization = await postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'demo-tv' }, from('192.0.2.50'));
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await pollToken(dg, 'demo-tv', authorization.body.device_code, from('192.0.2.50'))).status);
    // 20 points: the first poll is pending, the fast ones slow_down (400), then 429.
    assert.deepEqual(statuses.slice(0, 20).filter((status) => status !== 400), [], 'slow_down and pending are 400');
    assert.deepEqual(statuses.slice(20), Array(5).fill(429));
    assertThrottled(await pollToken(dg, 'demo-tv', authorization.body.device_code, from('192.0.2.50')));
    const elsewhere = await pollToken(dg, 'demo-tv', authorization.body.device_code, from('192.0.2.51'));
    assert.equal(elsewhere.status, 400, 'another address reaches the grant');
    assert.ok(['authorization_pending', 'slow_down'].includes(elsewhere.body.error));
  });
});

describe('revocation, introspection, userinfo, metadata', () => {
  test('revocation is limited per client and address', async () => {
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await postForm(dg.issuer, '/oauth/revoke', { client_id: 'demo-tv', token: `junk-${i}` }, from('192.0.2.60')));
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429]);
    assertThrottled(results[5]!);
    assert.equal((await postForm(dg.issuer, '/oauth/revoke', { client_id: 'demo-tv', token: 'junk' }, from('192.0.2.61'))).status, 200);
  });

  test('introspection is limited per authenticated client, whatever its address', async () => {
    const secret = 'introspector-secret-0123456789';
    await dg.addClient({ clientId: 'limited-rs', grantTypes: ['client_credentials'], scopes: ['api'], mayIntrospect: true }, secret);
    const headers = (address: string) => ({ authorization: basicAuthorization('limited-rs', secret), ...from(address) });
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await postForm(dg.issuer, '/oauth/introspect', { token: 'x' }, headers(`192.0.2.${70 + i}`))).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
  });

  test('userinfo is limited per address', async () => {
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await request(dg.issuer, '/oauth/userinfo', { headers: { authorization: 'Bearer junk', ...from('192.0.2.80') } })).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
  });

  test('discovery and JWKS share a per-address limit', async () => {
    const statuses = [];
    for (const path of ['/.well-known/openid-configuration', '/oauth/jwks', '/.well-known/oauth-authorization-server', '/oauth/jwks', '/oauth/jwks', '/oauth/jwks']) {
      statuses.push((await request(dg.issuer, path, { headers: from('192.0.2.90') })).status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
    assert.equal((await request(dg.issuer, '/oauth/jwks', { headers: from('192.0.2.91') })).status, 200);
  });

  test('health and readiness are never limited (probes must not restart a healthy appliance)', async () => {
    for (let i = 0; i < 20; i++) {
      assert.equal((await request(dg.issuer, '/healthz', { headers: from('192.0.2.95') })).status, 200);
      assert.equal((await request(dg.issuer, '/readyz', { headers: from('192.0.2.95') })).status, 200);
    }
  });
});

describe('client authentication', () => {
  test('after repeated failed client authentications an address gets 429 before any secret is checked', async () => {
    const secret = 'confidential-secret-0123456789';
    await dg.addClient({ clientId: 'guessed-client', grantTypes: ['client_credentials'], scopes: ['api'] }, secret);
    const attempt = (password: string, address: string) =>
      postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization('guessed-client', password), ...from(address) });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await attempt(`wrong-guess-${i}`, '192.0.2.100')).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    // Even the right secret is refused from that address for the rest of the window...
    assertThrottled(await attempt(secret, '192.0.2.100'));
    // ...while the client itself is not locked out elsewhere.
    assert.equal((await attempt(secret, '192.0.2.101')).status, 200);
    const events = (await auditEvents('rate_limited')).filter((entry) => entry.fields.limit === 'clientAuthenticationFailuresPerAddress');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.fields.key, '192.0.2.100');
    // A public client at that address presents nothing to guess and is not held back.
    assert.equal((await postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'demo-tv' }, from('192.0.2.100'))).status, 200);
  });

  test('a misconfigured public client naming an unknown client_id neither counts nor locks out its neighbours', async () => {
    for (let i = 0; i < 12; i++) {
      const result = await postForm(dg.issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: 'no-such-tv', refresh_token: 'x' }, from('192.0.2.110'));
      assert.equal(result.status, 401);
      assert.equal(result.body.error, 'invalid_client');
    }
    const neighbour = await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization('guessed-client', 'confidential-secret-0123456789'), ...from('192.0.2.110') });
    assert.equal(neighbour.status, 200);
  });
});
