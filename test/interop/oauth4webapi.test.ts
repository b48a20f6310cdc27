// Interoperability with `oauth4webapi`, the low-level client openid-client is built on, used
// step by step: the device flow for a public and a confidential device, and client_credentials
// with client_secret_basic and client_secret_post.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';

let dg: TestAppliance;
let as: oauth.AuthorizationServer;
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const SERVICE = { clientId: 'o4w-service', secret: 'o4w-service-secret-0123456789' };
const KIOSK = { clientId: 'o4w-kiosk', secret: 'o4w-kiosk-secret-0123456789' };

before(async () => {
  dg = await startTestAppliance();
  await dg.addClient({ clientId: 'o4w-tv', pollInterval: 1 });
  await dg.addClient({ clientId: SERVICE.clientId, grantTypes: ['client_credentials'], scopes: ['metrics.write', 'metrics.read'] }, SERVICE.secret);
  await dg.addClient({ clientId: KIOSK.clientId, pollInterval: 1, scopes: ['openid', 'profile', 'offline_access'] }, KIOSK.secret);
  const issuer = new URL(dg.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});
after(() => dg.stop());

async function deviceFlow(client: oauth.Client, auth: oauth.ClientAuth, scope: string) {
  const started = await oauth.deviceAuthorizationRequest(as, client, auth, { scope }, insecure);
  const authorization = await oauth.processDeviceAuthorizationResponse(as, client, started);
  // One poll before approval: authorization_pending.
  const pending = await oauth.deviceCodeGrantRequest(as, client, auth, authorization.device_code, insecure);
  await assert.rejects(
    oauth.processDeviceCodeResponse(as, client, pending),
    (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === 'authorization_pending',
  );
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
  const redeemed = await oauth.deviceCodeGrantRequest(as, client, auth, authorization.device_code, insecure);
  return oauth.processDeviceCodeResponse(as, client, redeemed);
}

test('RFC 8414 metadata is accepted by oauth4webapi', () => {
  assert.equal(as.issuer, dg.issuer);
  assert.ok(as.device_authorization_endpoint);
  for (const method of ['none', 'client_secret_basic', 'client_secret_post']) {
    assert.ok(as.token_endpoint_auth_methods_supported?.includes(method), method);
  }
});

test('a public device completes the device flow', async () => {
  const tokens = await deviceFlow({ client_id: 'o4w-tv' }, oauth.None(), 'openid profile offline_access');
  assert.equal(tokens.token_type, 'bearer');
  assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
  assert.equal(oauth.getValidatedIdTokenClaims(tokens)?.sub, dg.demoUserId);
});

test('a confidential device completes the device flow with client_secret_basic', async () => {
  const tokens = await deviceFlow({ client_id: KIOSK.clientId }, oauth.ClientSecretBasic(KIOSK.secret), 'openid offline_access');
  assert.ok(tokens.access_token && tokens.refresh_token);
  assert.equal(oauth.getValidatedIdTokenClaims(tokens)?.aud, KIOSK.clientId);
});

test('a confidential device completes the device flow with client_secret_post', async () => {
  const tokens = await deviceFlow({ client_id: KIOSK.clientId }, oauth.ClientSecretPost(KIOSK.secret), 'openid');
  assert.ok(tokens.access_token);
  assert.equal(tokens.refresh_token, undefined);
});

for (const [name, auth] of [
  ['client_secret_basic', oauth.ClientSecretBasic(SERVICE.secret)],
  ['client_secret_post', oauth.ClientSecretPost(SERVICE.secret)],
] as const) {
  test(`client_credentials with ${name} gives an access token and no refresh token`, async () => {
    const client = { client_id: SERVICE.clientId };
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'metrics.write' }, insecure);
    const tokens = await oauth.processClientCredentialsResponse(as, client, response);
    assert.ok(tokens.access_token);
    assert.equal(tokens.scope, 'metrics.write');
    assert.equal(tokens.refresh_token, undefined);
  });
}

test('client_credentials with a wrong secret is refused as invalid_client', async () => {
  const client = { client_id: SERVICE.clientId };
  const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('wrong-secret-0123456789'), {}, insecure);
  assert.equal(response.status, 401);
  assert.match(response.headers.get('www-authenticate') ?? '', /^Basic /);
  // oauth4webapi surfaces the Basic challenge first; the body still names the error.
  await assert.rejects(
    oauth.processClientCredentialsResponse(as, client, response),
    (error: unknown) => error instanceof oauth.WWWAuthenticateChallengeError && error.cause[0]?.scheme === 'basic',
  );
  assert.equal(((await response.clone().json()) as { error: string }).error, 'invalid_client');
});
