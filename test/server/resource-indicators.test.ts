// Resource indicators (RFC 8707) on device authorization, the device code, refresh and
// client_credentials, driven by oauth4webapi: each access token's aud is exactly the resource
// asked for, the resource-server helper of another API refuses it, a refresh narrows but never
// widens, and anything unregistered, malformed or not granted is invalid_target.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { createTokenVerifier } from '@devicegate/server/resource-server';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';

const TOOLS = 'https://tools.example.test/mcp';
const CALENDAR = 'https://calendar.example.test';
const MAIL = 'https://mail.example.test';
const SERVICE = { clientId: 'ri-service', secret: 'ri-service-secret-0123456789' };
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let dg: TestAppliance;
let as: oauth.AuthorizationServer;
const agent: oauth.Client = { client_id: 'ri-agent' };

before(async () => {
  dg = await startTestAppliance({ modules: 'none' });
  await dg.addClient({ clientId: agent.client_id, pollInterval: 1, scopes: ['openid', 'offline_access', 'tools'] });
  await dg.addClient({ clientId: SERVICE.clientId, grantTypes: ['client_credentials'], scopes: ['reports'] }, SERVICE.secret);
  for (const [resource, name] of [[TOOLS, 'Tools'], [CALENDAR, 'Calendar'], [MAIL, 'Mail']]) {
    await dg.appliance.context.store.resources.put({ resource: resource!, name: name!, createdAt: dg.appliance.context.clock.now() });
  }
  const issuer = new URL(dg.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});
after(() => dg.stop());

/** Device authorization for `resources`, approved by the demo user. */
async function approvedDevice(resources: string[], scope = 'offline_access tools') {
  const parameters = new URLSearchParams({ scope });
  for (const resource of resources) parameters.append('resource', resource);
  const response = await oauth.deviceAuthorizationRequest(as, agent, oauth.None(), parameters, insecure);
  const authorization = await oauth.processDeviceAuthorizationResponse(as, agent, response);
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
  return authorization.device_code;
}

async function redeem(deviceCode: string, resources: string[] = []) {
  const response = await oauth.deviceCodeGrantRequest(as, agent, oauth.None(), deviceCode, { ...insecure, additionalParameters: resources.map((resource) => ['resource', resource]) });
  return oauth.processDeviceCodeResponse(as, agent, response);
}

async function refresh(refreshToken: string, resources: string[] = []) {
  const response = await oauth.refreshTokenGrantRequest(as, agent, oauth.None(), refreshToken, { ...insecure, additionalParameters: resources.map((resource) => ['resource', resource]) });
  return oauth.processRefreshTokenResponse(as, agent, response);
}

const isOAuthError = (code: string) => (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === code;

/** A bearer request to an API whose helper knows itself as `audience`. */
function apiRequest(token: string) {
  return { method: 'GET', url: '/', headers: { authorization: `Bearer ${token}`, host: 'api.example.test' } };
}

test('the access token is for exactly the resource the token request names', async () => {
  const deviceCode = await approvedDevice([TOOLS, CALENDAR]);
  const tokens = await redeem(deviceCode, [TOOLS]);
  assert.equal(decodeJwt(tokens.access_token).aud, TOOLS);
});

test('a token for one resource is accepted by its helper and refused by another resource’s helper (aud)', async () => {
  const tokens = await redeem(await approvedDevice([TOOLS, CALENDAR]), [TOOLS]);
  const tools = createTokenVerifier({ issuer: dg.issuer, audience: TOOLS });
  const calendar = createTokenVerifier({ issuer: dg.issuer, audience: CALENDAR });
  assert.equal((await tools.verify(apiRequest(tokens.access_token))).sub, dg.demoUserId);
  await assert.rejects(calendar.verify(apiRequest(tokens.access_token)), (error: { status: number; error: string }) => error.status === 401 && error.error === 'invalid_token');
});

test('without a resource on the token request, the token is for every resource the person consented to', async () => {
  const tokens = await redeem(await approvedDevice([TOOLS, CALENDAR]));
  assert.deepEqual(decodeJwt(tokens.access_token).aud, [TOOLS, CALENDAR]);
});

test('a refresh can narrow to one of the granted resources but never widen to another registered one', async () => {
  const tokens = await redeem(await approvedDevice([TOOLS, CALENDAR]), [TOOLS]);
  const narrowed = await refresh(tokens.refresh_token!, [CALENDAR]);
  assert.equal(decodeJwt(narrowed.access_token).aud, CALENDAR);
  // MAIL is registered, but the person never consented to it.
  await assert.rejects(refresh(narrowed.refresh_token!, [MAIL]), isOAuthError('invalid_target'));
  await assert.rejects(refresh(narrowed.refresh_token!, [CALENDAR, MAIL]), isOAuthError('invalid_target'));
  // The refused refresh rotated nothing: the same refresh token still works, within the grant.
  const again = await refresh(narrowed.refresh_token!);
  assert.deepEqual(decodeJwt(again.access_token).aud, [TOOLS, CALENDAR]);
});

test('an unregistered, relative or fragment resource on device authorization is invalid_target', async () => {
  for (const resource of ['https://unknown.example.test', '/relative/path', `${TOOLS}#part`, 'not a uri']) {
    const parameters = new URLSearchParams({ scope: 'tools', resource });
    const response = await oauth.deviceAuthorizationRequest(as, agent, oauth.None(), parameters, insecure);
    await assert.rejects(oauth.processDeviceAuthorizationResponse(as, agent, response), isOAuthError('invalid_target'), resource);
  }
});

test('a token request naming a resource the device did not ask for is invalid_target, and the code can still be redeemed', async () => {
  const deviceCode = await approvedDevice([TOOLS]);
  await assert.rejects(redeem(deviceCode, [CALENDAR]), isOAuthError('invalid_target'));
  const tokens = await redeem(deviceCode, [TOOLS]);
  assert.equal(decodeJwt(tokens.access_token).aud, TOOLS);
});

test('a grant that named no resource cannot be turned into a token for one', async () => {
  const deviceCode = await approvedDevice([]);
  await assert.rejects(redeem(deviceCode, [TOOLS]), isOAuthError('invalid_target'));
  const tokens = await redeem(deviceCode);
  assert.equal(decodeJwt(tokens.access_token).aud, dg.issuer);
});

test('a resource the operator removed is no longer reached by refresh', async () => {
  const removable = 'https://removable.example.test';
  await dg.appliance.context.store.resources.put({ resource: removable, name: 'Soon gone', createdAt: 0 });
  const tokens = await redeem(await approvedDevice([removable]));
  await dg.appliance.context.store.resources.remove(removable);
  await assert.rejects(refresh(tokens.refresh_token!), isOAuthError('invalid_target'));
});

test('introspection answers the audience the token carries', async () => {
  const introspector = { clientId: 'ri-introspector', secret: 'ri-introspector-secret-0123' };
  await dg.addClient({ clientId: introspector.clientId, mayIntrospect: true, grantTypes: ['client_credentials'], scopes: [] }, introspector.secret);
  const tokens = await redeem(await approvedDevice([TOOLS, CALENDAR]));
  const response = await oauth.introspectionRequest(as, { client_id: introspector.clientId }, oauth.ClientSecretBasic(introspector.secret), tokens.access_token, insecure);
  const answer = await oauth.processIntrospectionResponse(as, { client_id: introspector.clientId }, response);
  assert.equal(answer.active, true);
  assert.deepEqual(answer.aud, [TOOLS, CALENDAR]);
});

test('client_credentials with a registered resource gets a token for it; an unknown one is invalid_target', async () => {
  const client = { client_id: SERVICE.clientId };
  const auth = oauth.ClientSecretBasic(SERVICE.secret);
  const ok = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'reports', resource: CALENDAR }), insecure);
  assert.equal(decodeJwt((await oauth.processClientCredentialsResponse(as, client, ok)).access_token).aud, CALENDAR);
  const refused = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ resource: 'https://unknown.example.test' }), insecure);
  await assert.rejects(oauth.processClientCredentialsResponse(as, client, refused), isOAuthError('invalid_target'));
});

test('more than ten resources in one request is invalid_request', async () => {
  const parameters = new URLSearchParams({ scope: 'tools' });
  for (let index = 0; index < 11; index++) parameters.append('resource', `https://r${index}.example.test`);
  const response = await oauth.deviceAuthorizationRequest(as, agent, oauth.None(), parameters, insecure);
  await assert.rejects(oauth.processDeviceAuthorizationResponse(as, agent, response), isOAuthError('invalid_request'));
});
