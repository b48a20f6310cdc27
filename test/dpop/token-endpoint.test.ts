// RFC 9449 at the token endpoint: proofs on the device_code and refresh_token grants, bound tokens,
// bound refresh tokens (docs/security.md DPOP-ANY-GRANT, DPOP-PROOF, DPOP-NONCE,
// DPOP-BOUND-REFRESH), server nonces, proof validation.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import {
  approvedDeviceCode,
  b64,
  DEVICE_CODE_GRANT_TYPE,
  discover,
  jwtPayload,
  makeProof,
  newDpopKey,
  redeemWithDpop,
  refreshWithDpop,
  tokenRequest,
  type DpopKey,
} from './support.ts';

let dg: TestAppliance;
let as: oauth.AuthorizationServer;
let tokenUrl: string;
const client: oauth.Client = { client_id: 'demo-tv', id_token_signed_response_alg: 'ES256' };

before(async () => {
  dg = await startTestAppliance({ modules: 'none' });
  as = await discover(dg.issuer);
  tokenUrl = `${dg.issuer}/oauth/token`;
});
after(() => dg.stop());

const nonce = () => dg.appliance.context.dpop.nonce();

/** A device code redeemed with a hand-made proof of `key`; returns the token response. */
async function redeemByHand(key: DpopKey) {
  const deviceCode = await approvedDeviceCode(dg);
  const proof = await makeProof(key, { htu: tokenUrl, nonce: nonce() });
  return tokenRequest(dg.issuer, { client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode }, proof);
}

/** A pending device code (not approved) and a poll of it with `proof`. */
async function pollPending(proof: string) {
  const response = await fetch(`${dg.issuer}/oauth/device_authorization`, { method: 'POST', body: new URLSearchParams({ client_id: 'demo-tv' }) });
  const { device_code } = (await response.json()) as { device_code: string };
  return tokenRequest(dg.issuer, { client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code }, proof);
}

test('a device_code redemption with a DPoP proof (oauth4webapi) gives token_type DPoP and an access token bound by cnf.jkt', async () => {
  const key = await newDpopKey();
  const dpop = oauth.DPoP(client, key.keyPair);
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), dpop);
  assert.equal(tokens.token_type, 'dpop');
  assert.deepEqual(jwtPayload(tokens.access_token).cnf, { jkt: key.jkt });
  assert.equal(jwtPayload(tokens.access_token).cnf && (await dpop.calculateThumbprint()), key.jkt);
});

test('the token family records the DPoP key it was redeemed with', async () => {
  const key = await newDpopKey('EdDSA');
  const { body } = await redeemByHand(key);
  const record = await dg.appliance.context.accessTokens.verify(body.access_token as string);
  const grant = await dg.appliance.context.store.grants.get(record!.grantId!);
  assert.equal(grant!.dpopJkt, key.jkt);
});

test('without a nonce the server answers use_dpop_nonce with a DPoP-Nonce header, and the retry with it succeeds', async () => {
  const key = await newDpopKey();
  const deviceCode = await approvedDeviceCode(dg);
  const parameters = { client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode };
  const first = await tokenRequest(dg.issuer, parameters, await makeProof(key, { htu: tokenUrl }));
  assert.equal(first.status, 400);
  assert.equal(first.body.error, 'use_dpop_nonce');
  const serverNonce = first.headers.get('dpop-nonce');
  assert.ok(serverNonce);
  const second = await tokenRequest(dg.issuer, parameters, await makeProof(key, { htu: tokenUrl, nonce: serverNonce }));
  assert.equal(second.status, 200);
  assert.equal(second.body.token_type, 'DPoP');
});

test('the device authorization answer carries a DPoP-Nonce, and a first token request with it needs no retry', async () => {
  const response = await fetch(`${dg.issuer}/oauth/device_authorization`, { method: 'POST', body: new URLSearchParams({ client_id: 'demo-tv' }) });
  const handedOut = response.headers.get('dpop-nonce');
  assert.ok(handedOut, 'RFC 9449 §8.2: a nonce may come with any response');
  const { device_code, user_code } = (await response.json()) as { device_code: string; user_code: string };
  assert.equal(await dg.appliance.context.approval.approveUserCode(user_code, dg.demoUserId), true);
  const key = await newDpopKey();
  const proof = await makeProof(key, { htu: tokenUrl, nonce: handedOut });
  const tokens = await tokenRequest(dg.issuer, { client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code }, proof);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.equal(tokens.body.token_type, 'DPoP');
});

test('with nonces not required, the device authorization answer carries none', async () => {
  const relaxed = await startTestAppliance({ modules: 'none', overrides: { dpop: { nonceRequired: false } } });
  try {
    const response = await fetch(`${relaxed.issuer}/oauth/device_authorization`, { method: 'POST', body: new URLSearchParams({ client_id: 'demo-tv' }) });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('dpop-nonce'), null);
  } finally {
    await relaxed.stop();
  }
});

test('a nonce from an earlier window, or a made-up one, is answered with use_dpop_nonce', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, nonce: 'not-a-nonce-the-server-issued' }));
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'use_dpop_nonce');
});

test('authorization_pending answers to a DPoP poll carry a fresh DPoP-Nonce', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, nonce: nonce() }));
  assert.equal(result.body.error, 'authorization_pending');
  assert.equal(result.headers.get('dpop-nonce'), nonce());
});

test('a stolen DPoP-bound refresh token fails without a proof', async () => {
  const key = await newDpopKey();
  const dpop = oauth.DPoP(client, key.keyPair);
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), dpop);
  const stolen = await tokenRequest(dg.issuer, { client_id: 'demo-tv', grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
  assert.equal(stolen.status, 400);
  assert.equal(stolen.body.error, 'invalid_grant');
});

test('a stolen DPoP-bound refresh token fails with a proof of another key', async () => {
  const key = await newDpopKey();
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), oauth.DPoP(client, key.keyPair));
  const thief = await newDpopKey();
  const stolen = await tokenRequest(
    dg.issuer,
    { client_id: 'demo-tv', grant_type: 'refresh_token', refresh_token: tokens.refresh_token! },
    await makeProof(thief, { htu: tokenUrl, nonce: nonce() }),
  );
  assert.equal(stolen.status, 400);
  assert.equal(stolen.body.error, 'invalid_grant');
});

test('a thief without the key cannot burn the device refresh token: the device refreshes afterwards with its key', async () => {
  const key = await newDpopKey();
  const dpop = oauth.DPoP(client, key.keyPair);
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), dpop);
  await tokenRequest(dg.issuer, { client_id: 'demo-tv', grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
  const refreshed = await refreshWithDpop(as, client, tokens.refresh_token!, dpop);
  assert.equal(refreshed.token_type, 'dpop');
  assert.deepEqual(jwtPayload(refreshed.access_token).cnf, { jkt: key.jkt });
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);
});

test('a confidential client whose grant was redeemed with DPoP cannot refresh without a proof: it stays DPoP-bound (DPOP-STAYS-BOUND)', async () => {
  await dg.addClient({ clientId: 'confidential-tv' }, 'confidential-tv-secret');
  const credentials = { client_id: 'confidential-tv', client_secret: 'confidential-tv-secret' };
  const authorization = await fetch(`${dg.issuer}/oauth/device_authorization`, {
    method: 'POST',
    body: new URLSearchParams({ ...credentials, scope: 'openid offline_access' }),
  });
  assert.equal(authorization.status, 200);
  const { device_code, user_code } = (await authorization.json()) as { device_code: string; user_code: string };
  assert.equal(await dg.appliance.context.approval.approveUserCode(user_code, dg.demoUserId), true);
  const key = await newDpopKey();
  const redeemed = await tokenRequest(
    dg.issuer,
    { ...credentials, grant_type: DEVICE_CODE_GRANT_TYPE, device_code },
    await makeProof(key, { htu: tokenUrl, nonce: nonce() }),
  );
  assert.equal(redeemed.body.token_type, 'DPoP');
  const refreshToken = redeemed.body.refresh_token as string;

  const bare = await tokenRequest(dg.issuer, { ...credentials, grant_type: 'refresh_token', refresh_token: refreshToken });
  assert.equal(bare.status, 400);
  assert.equal(bare.body.error, 'invalid_dpop_proof');

  // RFC 9449 §5: a confidential client may present another key; its tokens are bound to that one.
  const other = await newDpopKey();
  const refreshed = await tokenRequest(
    dg.issuer,
    { ...credentials, grant_type: 'refresh_token', refresh_token: refreshToken },
    await makeProof(other, { htu: tokenUrl, nonce: nonce() }),
  );
  assert.equal(refreshed.status, 200);
  assert.equal(refreshed.body.token_type, 'DPoP');
  assert.deepEqual(jwtPayload(refreshed.body.access_token as string).cnf, { jkt: other.jkt });
});

test('a replayed DPoP proof (same jti) is refused with invalid_dpop_proof', async () => {
  const key = await newDpopKey();
  const proof = await makeProof(key, { htu: tokenUrl, nonce: nonce() });
  const first = await pollPending(proof);
  assert.equal(first.body.error, 'authorization_pending');
  const replay = await pollPending(proof);
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error, 'invalid_dpop_proof');
});

test('a proof whose htm is not the request method is refused', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, htm: 'GET', nonce: nonce() }));
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a proof whose htu names another URL is refused', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: `${dg.issuer}/oauth/introspect`, nonce: nonce() }));
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('htu is compared without query and fragment', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: `${tokenUrl}?x=1#y`, nonce: nonce() }));
  assert.equal(result.body.error, 'authorization_pending');
});

test('a proof with an iat more than 60 seconds old is refused', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, iat: Math.floor(Date.now() / 1000) - 120, nonce: nonce() }));
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a proof with an iat more than 60 seconds ahead is refused', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, iat: Math.floor(Date.now() / 1000) + 120, nonce: nonce() }));
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a proof without a jti is refused', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, nonce: nonce(), omit: ['jti'] }));
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a proof with alg none is refused', async () => {
  const key = await newDpopKey();
  const header = { alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk };
  const claims = { htm: 'POST', htu: tokenUrl, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), nonce: nonce() };
  const result = await pollPending(`${b64(header)}.${b64(claims)}.`);
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a proof signed with HS256 (a symmetric key) is refused', async () => {
  const { createHmac } = await import('node:crypto');
  const secret = Buffer.alloc(32, 7);
  const header = { alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: secret.toString('base64url') } };
  const claims = { htm: 'POST', htu: tokenUrl, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), nonce: nonce() };
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = createHmac('sha256', secret).update(input).digest('base64url');
  const result = await pollPending(`${input}.${signature}`);
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a proof carrying a private key in its jwk header is refused', async () => {
  const key = await newDpopKey();
  const { exportJWK } = await import('jose');
  const privateJwk = await exportJWK(key.keyPair.privateKey);
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, nonce: nonce(), jwk: privateJwk }));
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a proof with typ JWT instead of dpop+jwt is refused', async () => {
  const key = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, nonce: nonce(), typ: 'JWT' }));
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a proof signed by a key other than the one in its header is refused', async () => {
  const key = await newDpopKey();
  const other = await newDpopKey();
  const result = await pollPending(await makeProof(key, { htu: tokenUrl, nonce: nonce(), jwk: other.publicJwk }));
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('two DPoP headers in one request are refused', async () => {
  const key = await newDpopKey();
  const response = await fetch(`${dg.issuer}/oauth/device_authorization`, { method: 'POST', body: new URLSearchParams({ client_id: 'demo-tv' }) });
  const { device_code } = (await response.json()) as { device_code: string };
  const headers = new Headers();
  headers.append('DPoP', await makeProof(key, { htu: tokenUrl, nonce: nonce() }));
  headers.append('DPoP', await makeProof(key, { htu: tokenUrl, nonce: nonce() }));
  const result = await fetch(tokenUrl, {
    method: 'POST',
    headers,
    body: new URLSearchParams({ client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code }),
  });
  assert.equal(((await result.json()) as { error: string }).error, 'invalid_dpop_proof');
});

test('a client marked dpopRequired is refused a token request without a proof', async () => {
  await dg.addClient({ clientId: 'dpop-only-tv', dpopRequired: true });
  const deviceCode = await approvedDeviceCode(dg, 'dpop-only-tv');
  const plain = await tokenRequest(dg.issuer, { client_id: 'dpop-only-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode });
  assert.equal(plain.status, 400);
  assert.equal(plain.body.error, 'invalid_dpop_proof');
  const key = await newDpopKey();
  const withProof = await tokenRequest(
    dg.issuer,
    { client_id: 'dpop-only-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode },
    await makeProof(key, { htu: tokenUrl, nonce: nonce() }),
  );
  assert.equal(withProof.status, 200);
});

test('a redemption without a proof still gives a Bearer token to a client that does not require DPoP', async () => {
  const deviceCode = await approvedDeviceCode(dg);
  const result = await tokenRequest(dg.issuer, { client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode });
  assert.equal(result.body.token_type, 'Bearer');
  assert.equal(jwtPayload(result.body.access_token as string).cnf, undefined);
});

test('discovery advertises dpop_signing_alg_values_supported with asymmetric algorithms only', async () => {
  const algs = as.dpop_signing_alg_values_supported!;
  assert.ok(algs.includes('ES256') && algs.includes('EdDSA') && algs.includes('RS256') && algs.includes('PS256'));
  assert.ok(!algs.some((alg) => alg === 'none' || alg.startsWith('HS')));
});

test('introspection reports cnf.jkt and token_type DPoP for a DPoP-bound access token', async () => {
  await dg.addClient({ clientId: 'api-dpop', mayIntrospect: true, grantTypes: ['client_credentials'], scopes: ['api'] }, 'api-secret-0123456789');
  const key = await newDpopKey();
  const { body } = await redeemByHand(key);
  const response = await fetch(`${dg.issuer}/oauth/introspect`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('api-dpop:api-secret-0123456789').toString('base64')}` },
    body: new URLSearchParams({ token: body.access_token as string }),
  });
  const introspection = (await response.json()) as Record<string, unknown>;
  assert.equal(introspection.active, true);
  assert.equal(introspection.token_type, 'DPoP');
  assert.deepEqual(introspection.cnf, { jkt: key.jkt });
});
