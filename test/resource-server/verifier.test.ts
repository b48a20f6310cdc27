// The resource-server helper (@devicegate/server/resource-server) in front of a plain node:http
// API, against the real appliance: JWT access tokens via the JWKS, audience, expiry, typ, scopes,
// DPoP-bound tokens with their proofs, revocation through introspection.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createManualClock } from '@devicegate/server';
import { createTokenVerifier, TokenVerifierConfigurationError, type TokenVerifierOptions, type VerifiedToken } from '@devicegate/server/resource-server';
import * as oauth from 'oauth4webapi';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { approvedDeviceCode, DEVICE_CODE_GRANT_TYPE, discover, insecure, makeProof, newDpopKey, redeemWithDpop, tokenRequest } from '../dpop/support.ts';

/** RFC 9449 §4.2 ath: base64url(SHA-256(access token)). */
const accessTokenHash = (token: string) => createHash('sha256').update(token).digest('base64url');

let dg: TestAppliance;
let as: oauth.AuthorizationServer;
const servers: Server[] = [];
const client: oauth.Client = { client_id: 'demo-tv', id_token_signed_response_alg: 'ES256' };
const INTROSPECTOR = { clientId: 'notes-api', clientSecret: 'notes-api-secret-0123456789' };

before(async () => {
  dg = await startTestAppliance({ modules: 'none' });
  as = await discover(dg.issuer);
  await dg.addClient({ clientId: INTROSPECTOR.clientId, mayIntrospect: true, grantTypes: ['client_credentials'], scopes: ['api'] }, INTROSPECTOR.clientSecret);
});
after(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  await dg.stop();
});

/** A one-route API behind `requireToken`, answering the verified token as JSON. */
async function startApi(options: Partial<TokenVerifierOptions> = {}, scopes: string[] = []): Promise<string> {
  const verifier = createTokenVerifier({ issuer: dg.issuer, audience: dg.issuer, clientIds: ['demo-tv'], ...options });
  const guard = verifier.requireToken({ scopes });
  const server = createServer((request, response) =>
    guard(request, response, (error) => {
      response.statusCode = error ? 500 : 200;
      response.end(JSON.stringify(error ? { error: String(error) } : (request as { auth?: VerifiedToken }).auth));
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/notes`;
}

async function bearerTokens(scope = 'openid profile offline_access') {
  const deviceCode = await approvedDeviceCode(dg, 'demo-tv', scope);
  const { body } = await tokenRequest(dg.issuer, { client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode });
  return body as { access_token: string; id_token: string; refresh_token: string };
}

async function call(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  const text = await response.text();
  return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function revoke(token: string) {
  const response = await fetch(`${dg.issuer}/oauth/revoke`, {
    method: 'POST',
    body: new URLSearchParams({ client_id: 'demo-tv', token, token_type_hint: 'access_token' }),
  });
  assert.equal(response.status, 200);
}

test('a valid Bearer access token is accepted and its subject, scopes and client are handed to the API', async () => {
  const url = await startApi({}, ['profile']);
  const tokens = await bearerTokens();
  const result = await call(url, { authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 200);
  assert.equal(result.body.sub, dg.demoUserId);
  assert.equal(result.body.clientId, 'demo-tv');
  assert.deepEqual(result.body.scope, ['openid', 'profile', 'offline_access']);
});

test('a request without a token gets 401 with Bearer and DPoP challenges and no error code', async () => {
  const result = await call(await startApi());
  assert.equal(result.status, 401);
  assert.match(result.challenge, /^Bearer realm="api", DPoP algs="[^"]+"$/);
});

test('an expired access token is refused', async () => {
  const clock = createManualClock(Date.now() + 2 * 3600 * 1000);
  const url = await startApi({ clock });
  const tokens = await bearerTokens();
  const result = await call(url, { authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
  assert.match(String(result.body.error_description), /expired/);
});

test('a verifier whose audience is the issuer, without clientIds, refuses to start (RS-AUDIENCE)', () => {
  assert.throws(() => createTokenVerifier({ issuer: dg.issuer, audience: dg.issuer }), TokenVerifierConfigurationError);
  assert.throws(() => createTokenVerifier({ issuer: dg.issuer, audience: ['https://api.example', `${dg.issuer}/`] }), /clientIds/);
  assert.doesNotThrow(() => createTokenVerifier({ issuer: dg.issuer, audience: 'https://api.example' }));
});

test("with the issuer as audience, another client's token is refused: only clientIds are served", async () => {
  await dg.addClient({ clientId: 'other-app' });
  const url = await startApi({ clientIds: ['demo-tv'] });
  const deviceCode = await approvedDeviceCode(dg, 'other-app', 'openid');
  const { body } = await tokenRequest(dg.issuer, { client_id: 'other-app', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode });
  const result = await fetch(url, { headers: { authorization: `Bearer ${body.access_token as string}` } });
  assert.equal(result.status, 401);
  assert.match(result.headers.get('www-authenticate') ?? '', /invalid_token/);
});

test('a token for another audience is refused', async () => {
  const url = await startApi({ audience: 'https://another-api.example' });
  const tokens = await bearerTokens();
  const result = await call(url, { authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
});

test('an ID token is refused as an access token even when its audience would match (typ at+jwt)', async () => {
  const url = await startApi({ audience: ['demo-tv', dg.issuer] });
  const tokens = await bearerTokens();
  const result = await call(url, { authorization: `Bearer ${tokens.id_token}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
});

test('a token from another issuer is refused', async () => {
  const other = await startTestAppliance({ modules: 'none' });
  try {
    const url = await startApi();
    const deviceCode = await approvedDeviceCode(other);
    const { body } = await tokenRequest(other.issuer, { client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode });
    const result = await call(url, { authorization: `Bearer ${body.access_token as string}` });
    assert.equal(result.status, 401);
  } finally {
    await other.stop();
  }
});

test('a token without a required scope gets 403 insufficient_scope naming the scope', async () => {
  const url = await startApi({}, ['email']);
  const tokens = await bearerTokens('openid profile');
  const result = await call(url, { authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 403);
  assert.equal(result.body.error, 'insufficient_scope');
  assert.match(result.challenge, /scope="email"/);
});

test('a revoked token is refused at once when the introspection cache is 0', async () => {
  const url = await startApi({ introspection: { ...INTROSPECTOR, cacheSeconds: 0 } });
  const tokens = await bearerTokens();
  assert.equal((await call(url, { authorization: `Bearer ${tokens.access_token}` })).status, 200);
  await revoke(tokens.access_token);
  const result = await call(url, { authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 401);
  assert.match(String(result.body.error_description), /revoked/);
});

test('a revoked token is accepted while the introspection answer is cached and refused once it expires', async () => {
  const clock = createManualClock(Date.now());
  const url = await startApi({ introspection: { ...INTROSPECTOR, cacheSeconds: 30 }, clock });
  const tokens = await bearerTokens();
  assert.equal((await call(url, { authorization: `Bearer ${tokens.access_token}` })).status, 200);
  await revoke(tokens.access_token);
  assert.equal((await call(url, { authorization: `Bearer ${tokens.access_token}` })).status, 200);
  clock.advance(31_000);
  assert.equal((await call(url, { authorization: `Bearer ${tokens.access_token}` })).status, 401);
});

test('a token is refused when introspection fails (fail closed)', async () => {
  const url = await startApi({ introspection: { ...INTROSPECTOR, clientSecret: 'wrong-secret-0123456789', cacheSeconds: 0 } });
  const tokens = await bearerTokens();
  const result = await call(url, { authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 503);
});

test('a DPoP-bound token with its proof (oauth4webapi, ath) is accepted and the key thumbprint handed on', async () => {
  const url = await startApi({}, ['profile']);
  const key = await newDpopKey();
  const dpop = oauth.DPoP(client, key.keyPair);
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), dpop);
  const response = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(url), new Headers(), null, { DPoP: dpop, ...insecure });
  assert.equal(response.status, 200);
  assert.equal(((await response.json()) as VerifiedToken).jkt, key.jkt);
});

test('a DPoP-bound token sent with the Bearer scheme is refused', async () => {
  const url = await startApi();
  const key = await newDpopKey();
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), oauth.DPoP(client, key.keyPair));
  const result = await call(url, { authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
  assert.match(result.challenge, /^DPoP /);
});

test('a DPoP-bound token whose proof hashes another token (wrong ath) is refused', async () => {
  const url = await startApi();
  const key = await newDpopKey();
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), oauth.DPoP(client, key.keyPair));
  const proof = await makeProof(key, { htm: 'GET', htu: url, ath: 'hash-of-some-other-token-hash-of-some-other' });
  const result = await call(url, { authorization: `DPoP ${tokens.access_token}`, dpop: proof });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a DPoP-bound token without a proof is refused', async () => {
  const url = await startApi();
  const key = await newDpopKey();
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), oauth.DPoP(client, key.keyPair));
  const result = await call(url, { authorization: `DPoP ${tokens.access_token}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a DPoP proof made by another key is refused although it is otherwise valid', async () => {
  const url = await startApi();
  const key = await newDpopKey();
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), oauth.DPoP(client, key.keyPair));
  const thief = await newDpopKey();
  const proof = await makeProof(thief, { htm: 'GET', htu: url, ath: accessTokenHash(tokens.access_token) });
  const result = await call(url, { authorization: `DPoP ${tokens.access_token}`, dpop: proof });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('a DPoP proof replayed against the API is refused', async () => {
  const url = await startApi();
  const key = await newDpopKey();
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), oauth.DPoP(client, key.keyPair));
  const proof = await makeProof(key, { htm: 'GET', htu: url, ath: accessTokenHash(tokens.access_token) });
  const headers = { authorization: `DPoP ${tokens.access_token}`, dpop: proof };
  assert.equal((await call(url, headers)).status, 200);
  const replay = await call(url, headers);
  assert.equal(replay.status, 401);
  assert.equal(replay.body.error, 'invalid_dpop_proof');
});

test('a DPoP proof made for another URL (htu) is refused', async () => {
  const url = await startApi();
  const key = await newDpopKey();
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), oauth.DPoP(client, key.keyPair));
  const proof = await makeProof(key, { htm: 'GET', htu: 'https://another-api.example/notes', ath: accessTokenHash(tokens.access_token) });
  const result = await call(url, { authorization: `DPoP ${tokens.access_token}`, dpop: proof });
  assert.equal(result.status, 401);
});

test('an unbound token sent with the DPoP scheme is refused', async () => {
  const url = await startApi();
  const tokens = await bearerTokens();
  const result = await call(url, { authorization: `DPoP ${tokens.access_token}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
});
