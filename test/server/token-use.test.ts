// Using tokens: introspection (RFC 7662), userinfo (OIDC Core §5.3, RFC 6750) and revocation
// (RFC 7009) at their edges: expiry, the wrong kind of token, another client's token, callers
// that may not ask.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createManualClock } from '@devicegate/server';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { addIntrospector, basicAuthorization, introspect, postForm, refresh, request, signInDevice } from './http.ts';

const clock = createManualClock();
let dg: TestAppliance;
let introspector: { clientId: string; secret: string };
before(async () => {
  dg = await startTestAppliance({ deps: { clock } });
  introspector = await addIntrospector(dg);
  await dg.addClient({ clientId: 'use-other-tv' });
});
after(() => dg.stop());

const userinfo = (headers: Record<string, string>) => request(dg.issuer, '/oauth/userinfo', { headers });

test('introspection answers active: false for an access token past its expiry', async () => {
  const { tokens } = await signInDevice(dg);
  assert.equal((await introspect(dg, tokens.access_token, introspector)).body.active, true);
  clock.advance(tokens.expires_in * 1000);
  const info = await introspect(dg, tokens.access_token, introspector);
  assert.deepEqual(info.body, { active: false });
  assert.equal(info.headers.get('cache-control'), 'no-store');
});

test('introspection answers active: false for an ID token: it is not an access token', async () => {
  const { tokens } = await signInDevice(dg);
  assert.deepEqual((await introspect(dg, tokens.id_token!, introspector)).body, { active: false });
});

test('introspection answers active: false for a refresh token once it was rotated', async () => {
  const { tokens } = await signInDevice(dg);
  assert.equal((await introspect(dg, tokens.refresh_token!, introspector)).body.active, true);
  assert.equal((await refresh(dg, 'demo-tv', tokens.refresh_token!)).status, 200);
  assert.equal((await introspect(dg, tokens.refresh_token!, introspector)).body.active, false);
});

test('introspection without a token parameter answers invalid_request', async () => {
  const result = await postForm(dg.issuer, '/oauth/introspect', {}, { authorization: basicAuthorization(introspector.clientId, introspector.secret) });
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'invalid_request');
});

test('introspection by an unauthenticated caller answers 401 invalid_client', async () => {
  const result = await postForm(dg.issuer, '/oauth/introspect', { token: 'anything' });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_client');
});

test('introspection by a confidential client that may not introspect is refused', async () => {
  await dg.addClient({ clientId: 'use-no-introspect', grantTypes: ['client_credentials'], scopes: ['api'] }, 'use-no-introspect-secret-0123');
  const result = await postForm(dg.issuer, '/oauth/introspect', { token: 'anything' }, { authorization: basicAuthorization('use-no-introspect', 'use-no-introspect-secret-0123') });
  assert.ok(result.status === 401 || result.status === 403, String(result.status));
  assert.equal(typeof result.body.error, 'string');
});

test('introspection needs client authentication: a public client cannot introspect, even if marked so', async () => {
  // RFC 7662 §2.1: the caller must authenticate. A public client only names itself, which
  // anybody can do, so a misconfigured public "introspector" must not open the endpoint.
  await dg.addClient({ clientId: 'use-public-introspector', mayIntrospect: true });
  const { tokens } = await signInDevice(dg);
  const result = await postForm(dg.issuer, '/oauth/introspect', { token: tokens.access_token, client_id: 'use-public-introspector' });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_client');
});

test('userinfo with the token in the form body of a POST works (RFC 6750 §2.2)', async () => {
  const { tokens } = await signInDevice(dg);
  const result = await postForm(dg.issuer, '/oauth/userinfo', { access_token: tokens.access_token });
  assert.equal(result.status, 200, JSON.stringify(result.body));
  assert.equal(result.body.sub, dg.demoUserId);
});

test('userinfo without a token answers 401 invalid_token with a Bearer challenge', async () => {
  const result = await userinfo({});
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
  assert.match(result.headers.get('www-authenticate') ?? '', /^Bearer /);
});

test('userinfo with an ID token instead of an access token answers 401 invalid_token', async () => {
  const { tokens } = await signInDevice(dg);
  const result = await userinfo({ authorization: `Bearer ${tokens.id_token}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
});

test('userinfo with an expired access token answers 401 invalid_token', async () => {
  const { tokens } = await signInDevice(dg);
  clock.advance(tokens.expires_in * 1000 + 1000);
  const result = await userinfo({ authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
});

test('userinfo with a token lacking the openid scope answers 403 insufficient_scope', async () => {
  const { tokens } = await signInDevice(dg, { scope: 'profile offline_access' });
  const result = await userinfo({ authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 403);
  assert.equal(result.body.error, 'insufficient_scope');
});

test('userinfo with the token both in the header and the body answers invalid_request', async () => {
  const { tokens } = await signInDevice(dg);
  const result = await postForm(dg.issuer, '/oauth/userinfo', { access_token: tokens.access_token }, { authorization: `Bearer ${tokens.access_token}` });
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'invalid_request');
});

test("revoking another client's token answers 200 and leaves the token active (RFC 7009 §2.1)", async () => {
  const { tokens } = await signInDevice(dg);
  for (const token of [tokens.access_token, tokens.refresh_token!]) {
    const result = await postForm(dg.issuer, '/oauth/revoke', { client_id: 'use-other-tv', token });
    assert.equal(result.status, 200);
    assert.equal((await introspect(dg, token, introspector)).body.active, true);
  }
});

test('revocation without client authentication answers 401 invalid_client', async () => {
  const { tokens } = await signInDevice(dg);
  const result = await postForm(dg.issuer, '/oauth/revoke', { token: tokens.access_token });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_client');
  assert.equal((await introspect(dg, tokens.access_token, introspector)).body.active, true);
});

test('revocation without a token parameter answers invalid_request', async () => {
  const result = await postForm(dg.issuer, '/oauth/revoke', { client_id: 'demo-tv' });
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'invalid_request');
});

test('revoking an access token with the refresh_token hint still revokes it (the hint only orders the search)', async () => {
  const { tokens } = await signInDevice(dg);
  const result = await postForm(dg.issuer, '/oauth/revoke', { client_id: 'demo-tv', token: tokens.access_token, token_type_hint: 'refresh_token' });
  assert.equal(result.status, 200);
  assert.equal(result.headers.get('cache-control'), 'no-store');
  assert.equal((await introspect(dg, tokens.access_token, introspector)).body.active, false);
  assert.equal((await introspect(dg, tokens.refresh_token!, introspector)).body.active, true);
});
