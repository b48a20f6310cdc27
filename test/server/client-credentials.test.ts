// client_credentials (RFC 6749 §4.4): confidential clients only, no refresh token (§4.4.3), the
// subject is the client, user-only scopes are never granted to a machine.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { addIntrospector, basicAuthorization, introspect, postForm } from './http.ts';

let dg: TestAppliance;
const M2M = { clientId: 'cc-service', secret: 'cc-service-secret-0123456789' };
before(async () => {
  dg = await startTestAppliance();
  await dg.addClient({ clientId: M2M.clientId, grantTypes: ['client_credentials'], scopes: ['api.read', 'api.write', 'openid'] }, M2M.secret);
  // Misconfigured on purpose: a public client holding the client_credentials grant type.
  await dg.addClient({ clientId: 'cc-public', grantTypes: ['client_credentials'], scopes: ['api.read'] });
});
after(() => dg.stop());

const credentials = (parameters: Record<string, string> = {}) =>
  postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials', ...parameters }, { authorization: basicAuthorization(M2M.clientId, M2M.secret) });

test('a confidential client gets an access token and never a refresh token', async () => {
  const result = await credentials();
  assert.equal(result.status, 200, JSON.stringify(result.body));
  assert.equal(result.headers.get('cache-control'), 'no-store');
  assert.equal(result.body.token_type, 'Bearer');
  assert.ok(result.body.access_token);
  assert.equal(result.body.refresh_token, undefined);
  assert.equal(result.body.id_token, undefined);
});

test('the token’s subject is the client and user-only scopes are left out', async () => {
  const introspector = await addIntrospector(dg);
  const result = await credentials();
  assert.equal(result.body.scope, 'api.read api.write');
  const info = await introspect(dg, result.body.access_token, introspector);
  assert.equal(info.body.active, true);
  assert.equal(info.body.sub, M2M.clientId);
  assert.equal(info.body.client_id, M2M.clientId);
});

test('a narrower scope may be requested', async () => {
  const result = await credentials({ scope: 'api.read' });
  assert.equal(result.status, 200);
  assert.equal(result.body.scope, 'api.read');
});

test('a scope the client may not have, or openid, answers invalid_scope', async () => {
  for (const scope of ['api.admin', 'openid', 'offline_access']) {
    const result = await credentials({ scope });
    assert.equal(result.status, 400, scope);
    assert.equal(result.body.error, 'invalid_scope', scope);
  }
});

test('a public client answers unauthorized_client even with the grant type configured', async () => {
  const result = await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials', client_id: 'cc-public' });
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'unauthorized_client');
});
