// Delegation by token exchange (RFC 8693): an agent signed in by a person through the device flow
// (oauth4webapi) exchanges the person's token with openid-client for a narrower one for a
// downstream resource. The new token carries act, is narrower in audience, scope and lifetime,
// shows its chain in introspection and the audit log, and dies with the subject token's grant.
// The confused deputy cases are refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { createTokenVerifier } from '@devicegate/server/resource-server';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';

const TOOLS = 'https://tools.example.test/mcp';
const CALENDAR = 'https://calendar.example.test';
const MAIL = 'https://mail.example.test';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const INTROSPECTOR = { clientId: 'tx-introspector', secret: 'tx-introspector-secret-0123' };
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let dg: TestAppliance;
let as: oauth.AuthorizationServer;

before(async () => {
  dg = await startTestAppliance({ modules: 'none' });
  const agentGrants = [DEVICE_CODE, 'refresh_token', EXCHANGE];
  await dg.addClient({ clientId: 'tx-agent', pollInterval: 1, grantTypes: agentGrants, scopes: ['offline_access', 'tools', 'calendar.read', 'calendar.write'] });
  await dg.addClient({ clientId: 'tx-other-agent', pollInterval: 1, grantTypes: agentGrants, scopes: ['tools', 'calendar.read'] });
  await dg.addClient({ clientId: 'tx-tv', pollInterval: 1, scopes: ['tools', 'calendar.read'] });
  await dg.addClient({ clientId: INTROSPECTOR.clientId, mayIntrospect: true, grantTypes: ['client_credentials'], scopes: [] }, INTROSPECTOR.secret);
  for (const [resource, name] of [[TOOLS, 'Tools'], [CALENDAR, 'Calendar'], [MAIL, 'Mail']]) {
    await dg.appliance.context.store.resources.put({ resource: resource!, name: name!, createdAt: 0 });
  }
  const issuer = new URL(dg.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});
after(() => dg.stop());

/** A person signs the agent in for TOOLS and CALENDAR; its token is for TOOLS. */
async function signedInAgent(clientId = 'tx-agent', scope = 'offline_access tools calendar.read') {
  const agent = { client_id: clientId };
  const parameters = new URLSearchParams({ scope });
  parameters.append('resource', TOOLS);
  parameters.append('resource', CALENDAR);
  const authorization = await oauth.processDeviceAuthorizationResponse(as, agent, await oauth.deviceAuthorizationRequest(as, agent, oauth.None(), parameters, insecure));
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
  const response = await oauth.deviceCodeGrantRequest(as, agent, oauth.None(), authorization.device_code, { ...insecure, additionalParameters: [['resource', TOOLS]] });
  return oauth.processDeviceCodeResponse(as, agent, response);
}

/** openid-client, configured as the agent, exchanges `subjectToken`. */
async function exchange(clientId: string, subjectToken: string, extra: Record<string, string> = {}) {
  const config = await client.discovery(new URL(dg.issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  return client.genericGrantRequest(config, EXCHANGE, { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, ...extra });
}

const refusedWith = (code: string) => (error: unknown) => (error as { error?: string }).error === code;

async function introspect(token: string) {
  const introspector = { client_id: INTROSPECTOR.clientId };
  return oauth.processIntrospectionResponse(as, introspector, await oauth.introspectionRequest(as, introspector, oauth.ClientSecretBasic(INTROSPECTOR.secret), token, insecure));
}

test('discovery lists the token exchange grant', () => {
  assert.ok(as.grant_types_supported?.includes(EXCHANGE));
});

test('an exchanged token carries act naming the agent, and is narrower: one downstream audience, fewer scopes, no longer life', async () => {
  const subject = await signedInAgent();
  const exchanged = await exchange('tx-agent', subject.access_token, { resource: CALENDAR, scope: 'calendar.read' });
  assert.equal(exchanged.issued_token_type, ACCESS_TOKEN_TYPE);
  assert.equal(exchanged.refresh_token, undefined);
  const claims = decodeJwt(exchanged.access_token);
  const subjectClaims = decodeJwt(subject.access_token);
  assert.deepEqual(claims.act, { sub: 'tx-agent' });
  assert.equal(claims.sub, dg.demoUserId);
  assert.equal(claims.aud, CALENDAR);
  assert.equal(claims.scope, 'calendar.read');
  assert.ok(claims.exp! <= subjectClaims.exp!);
  // The downstream API accepts it; the agent's own API does not (aud).
  const request = { headers: { authorization: `Bearer ${exchanged.access_token}` } };
  assert.equal((await createTokenVerifier({ issuer: dg.issuer, audience: CALENDAR }).verify(request)).sub, dg.demoUserId);
  await assert.rejects(createTokenVerifier({ issuer: dg.issuer, audience: TOOLS }).verify(request), { error: 'invalid_token' });
});

test('introspection and the audit log show the chain, nested when an exchanged token is exchanged again', async () => {
  const subject = await signedInAgent();
  const first = await exchange('tx-agent', subject.access_token, { resource: CALENDAR });
  const second = await exchange('tx-agent', first.access_token, { audience: CALENDAR, scope: 'calendar.read' });
  assert.deepEqual(decodeJwt(second.access_token).act, { sub: 'tx-agent', act: { sub: 'tx-agent' } });
  const answer = await introspect(first.access_token);
  assert.equal(answer.active, true);
  assert.deepEqual(answer.act, { sub: 'tx-agent' });
  assert.equal(answer.sub, dg.demoUserId);
  assert.equal(answer.client_id, 'tx-agent');
  assert.deepEqual((await introspect(second.access_token)).act, { sub: 'tx-agent', act: { sub: 'tx-agent' } });

  await dg.appliance.context.audit.flush?.();
  const events = (await dg.appliance.context.store.auditEvents.tail(50)).filter((event) => event.event === 'token_exchanged');
  const last = events.at(-1)!;
  assert.equal(last.fields.userId, dg.demoUserId);
  assert.equal(last.fields.actors, 'tx-agent < tx-agent');
  assert.equal(last.fields.resources, CALENDAR);
  assert.equal(last.fields.subjectJti, decodeJwt(first.access_token).jti);
});

test('signing out the subject token’s grant revokes every token exchanged from it', async () => {
  const subject = await signedInAgent();
  const exchanged = await exchange('tx-agent', subject.access_token, { resource: CALENDAR });
  assert.equal((await introspect(exchanged.access_token)).active, true);
  const grantId = (await dg.appliance.context.store.accessTokens.findByJti(decodeJwt(subject.access_token).jti!))!.grantId!;
  // The person presses "Sign out" in My devices (the port the pages call).
  const port = (await import('@devicegate/server')).createVerificationPort(dg.appliance.context);
  const devices = await port.listDevices({ id: dg.demoUserId, username: 'demo', name: null, email: null });
  const card = devices.find((device) => device.grantId === grantId)!;
  assert.equal(card.agent, true, 'My devices shows it as an agent');
  assert.deepEqual(card.services.map((service) => service.name), ['Tools', 'Calendar']);
  assert.equal(await port.signOutDevice({ id: dg.demoUserId, username: 'demo', name: null, email: null }, grantId), true);
  assert.equal((await introspect(exchanged.access_token)).active, false);
  await assert.rejects(exchange('tx-agent', subject.access_token, { resource: CALENDAR }), refusedWith('invalid_grant'));
});

test('confused deputy: another client holding the person’s token cannot exchange it', async () => {
  const subject = await signedInAgent();
  await assert.rejects(exchange('tx-other-agent', subject.access_token, { resource: CALENDAR }), refusedWith('invalid_grant'));
});

test('confused deputy: a downstream resource the person never consented to is invalid_target, even if registered', async () => {
  const subject = await signedInAgent();
  await assert.rejects(exchange('tx-agent', subject.access_token, { resource: MAIL }), refusedWith('invalid_target'));
  await assert.rejects(exchange('tx-agent', subject.access_token, { resource: 'https://unknown.example.test' }), refusedWith('invalid_target'));
});

test('an exchange cannot widen the scope beyond the subject token’s', async () => {
  const subject = await signedInAgent();
  await assert.rejects(exchange('tx-agent', subject.access_token, { resource: CALENDAR, scope: 'calendar.write' }), refusedWith('invalid_scope'));
});

test('a client without the token exchange grant is unauthorized_client', async () => {
  const tv = { client_id: 'tx-tv' };
  const authorization = await oauth.processDeviceAuthorizationResponse(as, tv, await oauth.deviceAuthorizationRequest(as, tv, oauth.None(), new URLSearchParams([['scope', 'tools'], ['resource', TOOLS], ['resource', CALENDAR]]), insecure));
  await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId);
  const tokens = await oauth.processDeviceCodeResponse(as, tv, await oauth.deviceCodeGrantRequest(as, tv, oauth.None(), authorization.device_code, insecure));
  await assert.rejects(exchange('tx-tv', tokens.access_token, { resource: CALENDAR }), refusedWith('unauthorized_client'));
});

test('malformed exchanges: no target, another subject token type, an actor token, a refresh token as subject', async () => {
  const subject = await signedInAgent();
  await assert.rejects(exchange('tx-agent', subject.access_token), refusedWith('invalid_request'));
  await assert.rejects(exchange('tx-agent', subject.access_token, { resource: CALENDAR, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }), refusedWith('invalid_request'));
  await assert.rejects(exchange('tx-agent', subject.access_token, { resource: CALENDAR, actor_token: 'x', actor_token_type: ACCESS_TOKEN_TYPE }), refusedWith('invalid_request'));
  await assert.rejects(exchange('tx-agent', subject.refresh_token!, { resource: CALENDAR }), refusedWith('invalid_grant'));
});
