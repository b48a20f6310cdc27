// Device authorization (RFC 8628 §3.1-3.2): the response, client authentication and every error.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { basicAuthorization, DEVICE_CODE_GRANT_TYPE, postForm, type HttpResult } from './http.ts';

let dg: TestAppliance;
const CONFIDENTIAL = { clientId: 'da-confidential', secret: 'da-confidential-secret-0123456789' };

before(async () => {
  dg = await startTestAppliance();
  await dg.addClient({ clientId: 'da-tv', pollInterval: 7, deviceCodeLifetime: 300, scopes: ['openid', 'profile'] });
  await dg.addClient({ clientId: 'da-m2m', grantTypes: ['client_credentials'], scopes: ['api'] }, 'da-m2m-secret-0123456789');
  await dg.addClient({ clientId: CONFIDENTIAL.clientId, scopes: ['openid'] }, CONFIDENTIAL.secret);
});
after(() => dg.stop());

const authorize = (parameters: Record<string, string>, headers: Record<string, string> = {}) =>
  postForm(dg.issuer, '/oauth/device_authorization', parameters, headers);

function assertError(result: HttpResult, status: number, error: string): void {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.equal(result.body?.error, error, JSON.stringify(result.body));
  assert.equal(result.headers.get('cache-control'), 'no-store');
}

test('the response carries every required member, the client’s expires_in and interval, and no-store', async () => {
  const result = await authorize({ client_id: 'da-tv', scope: 'openid' });
  assert.equal(result.status, 200);
  assert.equal(result.headers.get('cache-control'), 'no-store');
  assert.match(result.headers.get('content-type') ?? '', /^application\/json/);
  const body = result.body;
  assert.equal(typeof body.device_code, 'string');
  assert.match(body.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  assert.equal(body.verification_uri, `${dg.issuer}/device`);
  assert.equal(body.verification_uri_complete, `${dg.issuer}/device?user_code=${body.user_code}`);
  assert.equal(body.expires_in, 300);
  assert.equal(body.interval, 7);
});

test('without a scope parameter the client’s allowed scopes are requested', async () => {
  const result = await authorize({ client_id: 'da-tv' });
  assert.equal(result.status, 200);
  const grant = await dg.appliance.context.approval.findPending(result.body.user_code);
  assert.deepEqual(grant?.deviceGrant.scopes, ['openid', 'profile']);
});

test('a scope the client may not have answers invalid_scope', async () => {
  assertError(await authorize({ client_id: 'da-tv', scope: 'openid offline_access' }), 400, 'invalid_scope');
  assertError(await authorize({ client_id: 'da-tv', scope: 'admin' }), 400, 'invalid_scope');
});

test('a syntactically invalid scope answers invalid_request or invalid_scope', async () => {
  const result = await authorize({ client_id: 'da-tv', scope: 'openid "quoted"' });
  assert.equal(result.status, 400);
  assert.ok(['invalid_request', 'invalid_scope'].includes(result.body.error));
});

test('a client without the device grant answers unauthorized_client', async () => {
  const result = await authorize({ scope: 'api' }, { authorization: basicAuthorization('da-m2m', 'da-m2m-secret-0123456789') });
  assertError(result, 400, 'unauthorized_client');
});

test('an unknown client answers 401 invalid_client', async () => {
  const result = await authorize({ client_id: 'nobody' });
  assertError(result, 401, 'invalid_client');
  assert.equal(result.headers.get('www-authenticate'), null);
});

test('a confidential client with a wrong Basic secret answers 401 invalid_client with WWW-Authenticate', async () => {
  const result = await authorize({}, { authorization: basicAuthorization(CONFIDENTIAL.clientId, 'not-the-secret') });
  assertError(result, 401, 'invalid_client');
  assert.match(result.headers.get('www-authenticate') ?? '', /^Basic /);
});

test('a confidential client with a wrong client_secret_post answers 401 invalid_client without WWW-Authenticate', async () => {
  const result = await authorize({ client_id: CONFIDENTIAL.clientId, client_secret: 'not-the-secret' });
  assertError(result, 401, 'invalid_client');
  assert.equal(result.headers.get('www-authenticate'), null);
});

test('a confidential client authenticates with client_secret_basic and with client_secret_post', async () => {
  const basic = await authorize({ scope: 'openid' }, { authorization: basicAuthorization(CONFIDENTIAL.clientId, CONFIDENTIAL.secret) });
  assert.equal(basic.status, 200, JSON.stringify(basic.body));
  const post = await authorize({ client_id: CONFIDENTIAL.clientId, client_secret: CONFIDENTIAL.secret, scope: 'openid' });
  assert.equal(post.status, 200, JSON.stringify(post.body));
});

test('a confidential client naming itself without a secret answers 401 invalid_client', async () => {
  assertError(await authorize({ client_id: CONFIDENTIAL.clientId }), 401, 'invalid_client');
});

test('device_name and device_model are stored for the consent page', async () => {
  const result = await authorize({ client_id: 'da-tv', device_name: 'Living room TV 📺', device_model: 'Sony Bravia X90' });
  assert.equal(result.status, 200);
  const pending = await dg.appliance.context.approval.findPending(result.body.user_code);
  assert.equal(pending?.deviceGrant.deviceName, 'Living room TV 📺');
  assert.equal(pending?.deviceGrant.deviceModel, 'Sony Bravia X90');
});

test('an overlong device_name answers invalid_request', async () => {
  assertError(await authorize({ client_id: 'da-tv', device_name: 'n'.repeat(65) }), 400, 'invalid_request');
  assertError(await authorize({ client_id: 'da-tv', device_model: 'm'.repeat(65) }), 400, 'invalid_request');
});

test('control characters in device_name answer invalid_request', async () => {
  for (const name of ['TV\u0000', 'line\nbreak', 'bidi\u202Eevil', 'tab\tname']) {
    assertError(await authorize({ client_id: 'da-tv', device_name: name }), 400, 'invalid_request');
  }
});

test('a repeated parameter answers invalid_request', async () => {
  assertError(await postForm(dg.issuer, '/oauth/device_authorization', 'client_id=da-tv&scope=openid&scope=profile'), 400, 'invalid_request');
});

test('a client disabled by an operator answers 401 invalid_client', async () => {
  await dg.addClient({ clientId: 'da-blocked', disabled: true });
  assertError(await authorize({ client_id: 'da-blocked' }), 401, 'invalid_client');
});

test('the device grant type is advertised in discovery with the endpoint', async () => {
  const metadata = (await (await fetch(`${dg.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
  assert.equal(metadata.issuer, dg.issuer);
  assert.equal(metadata.device_authorization_endpoint, `${dg.issuer}/oauth/device_authorization`);
  assert.ok((metadata.grant_types_supported as string[]).includes(DEVICE_CODE_GRANT_TYPE));
  const openid = (await (await fetch(`${dg.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  assert.deepEqual(openid, metadata);
});
