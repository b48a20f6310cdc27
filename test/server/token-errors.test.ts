// The token endpoint's error paths, each answer exactly as RFC 8628 §3.5 and RFC 6749 §5.2 say.
// Time is a manual clock: polling, slow_down and expiry are driven by hand, never by sleeping.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '@devicegate/server';
import { hashSecret } from '../../server/src/secrets.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import {
  basicAuthorization,
  DEVICE_CODE_GRANT_TYPE,
  deviceAuthorize,
  pollToken,
  postForm,
  request,
  type HttpResult,
} from './http.ts';

const clock = createManualClock();
let dg: TestAppliance;
const TV = 'token-errors-tv'; // public device client, interval 5 s, 600 s lifetime
const CONFIDENTIAL = { clientId: 'token-errors-confidential', secret: 'confidential-secret-0123456789' };

before(async () => {
  dg = await startTestAppliance({ deps: { clock } });
  await dg.addClient({ clientId: TV, pollInterval: 5, deviceCodeLifetime: 600 });
  await dg.addClient(
    { clientId: CONFIDENTIAL.clientId, grantTypes: [DEVICE_CODE_GRANT_TYPE, 'refresh_token', 'client_credentials'], scopes: ['openid', 'api'] },
    CONFIDENTIAL.secret,
  );
  await dg.addClient({ clientId: 'token-errors-refresh-only', grantTypes: ['refresh_token'] });
});
after(() => dg.stop());

function assertNoStore(result: HttpResult): void {
  assert.equal(result.headers.get('cache-control'), 'no-store');
}

function assertError(result: HttpResult, status: number, error: string): void {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.match(result.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(result.body?.error, error, JSON.stringify(result.body));
  assertNoStore(result);
}

const newCode = () => deviceAuthorize(dg, { client_id: TV, scope: 'openid' });
const token = (parameters: Record<string, string> | string, headers: Record<string, string> = {}) =>
  postForm(dg.issuer, '/oauth/token', parameters, headers);

describe('polling a device code (RFC 8628 §3.5)', () => {
  test('a code nobody has decided on answers authorization_pending', async () => {
    const { device_code } = await newCode();
    assertError(await pollToken(dg, TV, device_code), 400, 'authorization_pending');
  });

  test('the very first poll is never slow_down, even right after authorization', async () => {
    const { device_code } = await newCode();
    // Same instant as the authorization: nothing was polled before, so nothing was too fast.
    assertError(await pollToken(dg, TV, device_code), 400, 'authorization_pending');
  });

  test('polling sooner than the interval answers slow_down with the interval grown by 5 s', async () => {
    const { device_code, interval } = await newCode();
    assert.equal(interval, 5);
    await pollToken(dg, TV, device_code);
    clock.advance(1_000);
    const result = await pollToken(dg, TV, device_code);
    assertError(result, 400, 'slow_down');
    assert.equal(result.body.interval, 10);
  });

  test('the grown interval stays grown: the old interval is still too fast', async () => {
    const { device_code } = await newCode();
    await pollToken(dg, TV, device_code);
    clock.advance(1_000);
    assert.equal((await pollToken(dg, TV, device_code)).body.interval, 10);
    clock.advance(5_000); // the original interval, no longer enough
    const again = await pollToken(dg, TV, device_code);
    assertError(again, 400, 'slow_down');
    assert.equal(again.body.interval, 15);
  });

  test('after backing off by the grown interval the code recovers and is not throttled for good', async () => {
    const { device_code } = await newCode();
    await pollToken(dg, TV, device_code);
    clock.advance(1_000);
    assert.equal((await pollToken(dg, TV, device_code)).body.error, 'slow_down');
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      assertError(await pollToken(dg, TV, device_code), 400, 'authorization_pending');
    }
  });

  test('an approved code is redeemed at once, however soon after the last poll', async () => {
    const authorization = await newCode();
    await pollToken(dg, TV, authorization.device_code);
    assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
    // A device told by push redeems immediately; that is not polling too fast.
    const result = await pollToken(dg, TV, authorization.device_code);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assertNoStore(result);
    assert.equal(result.headers.get('pragma'), 'no-cache');
    assert.equal(result.body.token_type, 'Bearer');
    assert.equal(typeof result.body.expires_in, 'number');
  });

  test('a denied code answers access_denied, and keeps answering it', async () => {
    const authorization = await newCode();
    assert.equal(await dg.appliance.context.approval.denyUserCode(authorization.user_code, dg.demoUserId), true);
    assertError(await pollToken(dg, TV, authorization.device_code), 400, 'access_denied');
    clock.advance(5_000);
    assertError(await pollToken(dg, TV, authorization.device_code), 400, 'access_denied');
  });

  test('an expired code nobody approved answers expired_token, never authorization_pending', async () => {
    const { device_code, expires_in } = await newCode();
    assertError(await pollToken(dg, TV, device_code), 400, 'authorization_pending');
    clock.advance(expires_in * 1000);
    assertError(await pollToken(dg, TV, device_code), 400, 'expired_token');
  });

  test('an expired code polled for the first time, and too fast, still answers expired_token', async () => {
    const { device_code, expires_in } = await newCode();
    clock.advance(expires_in * 1000 + 1);
    assertError(await pollToken(dg, TV, device_code), 400, 'expired_token');
    assertError(await pollToken(dg, TV, device_code), 400, 'expired_token');
  });

  test('a code approved but not redeemed before it expired answers expired_token', async () => {
    const authorization = await newCode();
    assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
    clock.advance(authorization.expires_in * 1000);
    assertError(await pollToken(dg, TV, authorization.device_code), 400, 'expired_token');
  });

  test('an expired code cannot be approved any more', async () => {
    const authorization = await newCode();
    clock.advance(authorization.expires_in * 1000);
    assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), false);
  });

  test('an unknown device code answers invalid_grant', async () => {
    assertError(await pollToken(dg, TV, 'x'.repeat(43)), 400, 'invalid_grant');
  });

  test('a code already redeemed answers invalid_grant once the retry window has passed', async () => {
    const authorization = await newCode();
    await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId);
    assert.equal((await pollToken(dg, TV, authorization.device_code)).status, 200);
    // docs/security.md REDEEM-RETRY: redemptionRetryWindow defaults to 60 s.
    clock.advance(60_000);
    assertError(await pollToken(dg, TV, authorization.device_code), 400, 'invalid_grant');
  });

  test('within the retry window the same client redeeming again gets a fresh token set of the same family; the earlier one stops working', async () => {
    const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid offline_access' });
    await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId);
    const first = await pollToken(dg, 'demo-tv', authorization.device_code);
    assert.equal(first.status, 200);
    clock.advance(5_000);
    const retry = await pollToken(dg, 'demo-tv', authorization.device_code);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.notEqual(retry.body.refresh_token, first.body.refresh_token);
    const { store } = dg.appliance.context;
    const deviceGrant = await store.deviceGrants.findLiveByUserCode(authorization.user_code.replace('-', ''), clock.now());
    const grantIds = (await store.grants.listByUser(dg.demoUserId)).filter((grant) => grant.id === deviceGrant?.grantId);
    assert.equal(grantIds.length, 1, 'one family');
    // The set the device never received is revoked; presenting its refresh token later is reuse.
    assert.ok((await store.refreshTokens.find(hashSecret(first.body.refresh_token)))?.revokedAt);
    const refreshed = await token({ grant_type: 'refresh_token', client_id: 'demo-tv', refresh_token: retry.body.refresh_token });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    // Once the family's refresh token was used, the code is spent even within the window.
    assertError(await pollToken(dg, 'demo-tv', authorization.device_code), 400, 'invalid_grant');
  });

  test("another client's device code answers invalid_grant and yields no tokens", async () => {
    const authorization = await newCode();
    await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId);
    assertError(await pollToken(dg, 'demo-tv', authorization.device_code), 400, 'invalid_grant');
    // The rightful device still gets its tokens.
    assert.equal((await pollToken(dg, TV, authorization.device_code)).status, 200);
  });

  test('a poll without device_code answers invalid_request', async () => {
    assertError(await token({ grant_type: DEVICE_CODE_GRANT_TYPE, client_id: TV }), 400, 'invalid_request');
    assertError(await token({ grant_type: DEVICE_CODE_GRANT_TYPE, client_id: TV, device_code: '' }), 400, 'invalid_request');
  });
});

describe('client authentication at the token endpoint (RFC 6749 §2.3, §5.2)', () => {
  const poll = { grant_type: DEVICE_CODE_GRANT_TYPE, device_code: 'unknown-code' };

  test('an unknown public client_id answers 401 invalid_client without WWW-Authenticate', async () => {
    const result = await token({ ...poll, client_id: 'no-such-client' });
    assertError(result, 401, 'invalid_client');
    assert.equal(result.headers.get('www-authenticate'), null);
  });

  test('a request naming no client at all answers 401 invalid_client', async () => {
    assertError(await token(poll), 401, 'invalid_client');
  });

  test('a wrong secret sent with Basic answers 401 invalid_client with WWW-Authenticate', async () => {
    const result = await token(poll, { authorization: basicAuthorization(CONFIDENTIAL.clientId, 'wrong-secret') });
    assertError(result, 401, 'invalid_client');
    assert.match(result.headers.get('www-authenticate') ?? '', /^Basic /);
  });

  test('an unknown client sent with Basic answers 401 invalid_client with WWW-Authenticate', async () => {
    const result = await token(poll, { authorization: basicAuthorization('no-such-client', 'whatever-secret') });
    assertError(result, 401, 'invalid_client');
    assert.match(result.headers.get('www-authenticate') ?? '', /^Basic /);
  });

  test('malformed Basic credentials answer 401 invalid_client with WWW-Authenticate', async () => {
    for (const authorization of ['Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, 'Basic %%%']) {
      const result = await token(poll, { authorization });
      assertError(result, 401, 'invalid_client');
      assert.match(result.headers.get('www-authenticate') ?? '', /^Basic /, authorization);
    }
  });

  test('a wrong secret sent in the body answers 401 invalid_client without WWW-Authenticate', async () => {
    const result = await token({ ...poll, client_id: CONFIDENTIAL.clientId, client_secret: 'wrong-secret' });
    assertError(result, 401, 'invalid_client');
    assert.equal(result.headers.get('www-authenticate'), null);
  });

  test('an unknown client sent in the body with a secret answers 401 invalid_client', async () => {
    const result = await token({ ...poll, client_id: 'no-such-client', client_secret: 'whatever-secret' });
    assertError(result, 401, 'invalid_client');
    assert.equal(result.headers.get('www-authenticate'), null);
  });

  test('a confidential client naming itself without its secret answers 401 invalid_client', async () => {
    assertError(await token({ ...poll, client_id: CONFIDENTIAL.clientId }), 401, 'invalid_client');
  });

  test('a public client presenting a secret answers 401 invalid_client', async () => {
    assertError(await token({ ...poll, client_id: TV, client_secret: 'made-up-secret' }), 401, 'invalid_client');
  });

  test('using Basic and client_secret together answers invalid_request', async () => {
    const result = await token(
      { ...poll, client_id: CONFIDENTIAL.clientId, client_secret: CONFIDENTIAL.secret },
      { authorization: basicAuthorization(CONFIDENTIAL.clientId, CONFIDENTIAL.secret) },
    );
    assertError(result, 400, 'invalid_request');
  });

  test('a client_id that differs from the Basic client answers invalid_request', async () => {
    const result = await token({ ...poll, client_id: TV }, { authorization: basicAuthorization(CONFIDENTIAL.clientId, CONFIDENTIAL.secret) });
    assertError(result, 400, 'invalid_request');
  });

  test('a confidential client authenticates with either Basic or client_secret_post', async () => {
    const basic = await token({ grant_type: 'client_credentials' }, { authorization: basicAuthorization(CONFIDENTIAL.clientId, CONFIDENTIAL.secret) });
    assert.equal(basic.status, 200, JSON.stringify(basic.body));
    const post = await token({ grant_type: 'client_credentials', client_id: CONFIDENTIAL.clientId, client_secret: CONFIDENTIAL.secret });
    assert.equal(post.status, 200, JSON.stringify(post.body));
  });
});

describe('grant types', () => {
  test('an unknown grant_type answers unsupported_grant_type', async () => {
    for (const grantType of ['password', 'authorization_code', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'toString', '__proto__']) {
      assertError(await token({ grant_type: grantType, client_id: TV }), 400, 'unsupported_grant_type');
    }
  });

  test('a missing grant_type answers invalid_request', async () => {
    assertError(await token({ client_id: TV }), 400, 'invalid_request');
  });

  test('a client without the device grant answers unauthorized_client when it polls', async () => {
    const result = await token({ grant_type: DEVICE_CODE_GRANT_TYPE, client_id: 'token-errors-refresh-only', device_code: 'anything' });
    assertError(result, 400, 'unauthorized_client');
  });

  test('a client without client_credentials answers unauthorized_client', async () => {
    assertError(await token({ grant_type: 'client_credentials', client_id: TV }), 400, 'unauthorized_client');
  });
});

describe('malformed token requests answer invalid_request', () => {
  test('a repeated parameter', async () => {
    const body = `grant_type=${encodeURIComponent(DEVICE_CODE_GRANT_TYPE)}&client_id=${TV}&device_code=a&device_code=b`;
    assertError(await token(body), 400, 'invalid_request');
    const twice = `grant_type=client_credentials&grant_type=client_credentials&client_id=${TV}`;
    assertError(await token(twice), 400, 'invalid_request');
  });

  test('a body that is not form-encoded', async () => {
    for (const contentType of ['text/plain', 'multipart/form-data; boundary=x', 'application/xml']) {
      const result = await request(dg.issuer, '/oauth/token', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: `grant_type=client_credentials&client_id=${TV}`,
      });
      assert.ok(result.status === 400 || result.status === 415, `${contentType}: ${result.status}`);
      assert.equal(result.body.error, 'invalid_request', contentType);
      assertNoStore(result);
    }
  });

  test('a JSON body', async () => {
    const result = await request(dg.issuer, '/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: TV }),
    });
    assert.ok(result.status === 400 || result.status === 415, String(result.status));
    assert.equal(result.body.error, 'invalid_request');
    assertNoStore(result);
  });

  test('a POST with no body at all', async () => {
    const result = await request(dg.issuer, '/oauth/token', { method: 'POST' });
    assert.equal(result.status, 400);
    assert.equal(result.body.error, 'invalid_request');
  });

  test('an oversized body answers 413 (or 400) with a JSON error', async () => {
    const result = await token({ grant_type: 'client_credentials', client_id: TV, padding: 'x'.repeat(64 * 1024) });
    assert.ok(result.status === 413 || result.status === 400, String(result.status));
    assert.equal(result.body.error, 'invalid_request');
    assertNoStore(result);
  });

  test('an oversized parameter value', async () => {
    assertError(await token({ grant_type: DEVICE_CODE_GRANT_TYPE, client_id: TV, device_code: 'x'.repeat(5000) }), 400, 'invalid_request');
  });

  test('an oversized client_id answers invalid_client', async () => {
    assertError(await token({ grant_type: DEVICE_CODE_GRANT_TYPE, client_id: 'c'.repeat(1000), device_code: 'x' }), 401, 'invalid_client');
  });
});

describe('methods', () => {
  // OPTIONS answers the CORS preflight where a browser app may call (docs/security.md CORS-ORIGIN).
  const allowed: Record<string, string> = { '/oauth/token': 'POST, OPTIONS', '/oauth/device_authorization': 'POST, OPTIONS', '/oauth/revoke': 'POST, OPTIONS', '/oauth/introspect': 'POST' };
  for (const [path, allow] of Object.entries(allowed)) {
    test(`GET ${path} answers 405 with Allow: ${allow} and a JSON error`, async () => {
      const result = await request(dg.issuer, path);
      assert.equal(result.status, 405);
      assert.equal(result.headers.get('allow'), allow);
      assert.equal(result.body.error, 'invalid_request');
    });
  }

  test('PUT and DELETE on the token endpoint answer 405', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const result = await request(dg.issuer, '/oauth/token', { method });
      assert.equal(result.status, 405, method);
    }
  });
});
