// Dynamic client registration (RFC 7591) under the operator's policy, driven by oauth4webapi: a
// client registers with an initial access token or an allow-listed software statement and signs
// in through the device flow (openid-client as the device, the person on the pages' forms, where
// the app shows as unverified); every refusal is a clear RFC 7591 error.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { ConfigError, loadConfig } from '@devicegate/server';
import { startTestAppliance, DEMO_PASSWORD, type TestAppliance } from '../support/appliance.ts';
import { createPageSession, csrfOf, EN, message, reachConsent, requestIdOf, ROOMY_LIMITS } from '../verification-ui/support.ts';

const INITIAL_ACCESS_TOKEN = 'iat-handed-out-by-the-operator-0123456789';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
let dg: TestAppliance;
let as: oauth.AuthorizationServer;
let trusted: CryptoKey;
let untrusted: CryptoKey;

before(async () => {
  const trustedPair = await generateKeyPair('ES256');
  trusted = trustedPair.privateKey;
  untrusted = (await generateKeyPair('ES256')).privateKey;
  dg = await startTestAppliance({
    overrides: {
      limits: { ...ROOMY_LIMITS, registrationPerAddress: { points: 1000, duration: 3600 } },
      registration: {
        enabled: true,
        initialAccessTokenHashes: [createHash('sha256').update(INITIAL_ACCESS_TOKEN).digest('hex')],
        softwareStatementKeys: { keys: [{ ...(await exportJWK(trustedPair.publicKey)), kid: 'vendor', alg: 'ES256' }] },
        scopes: 'openid profile offline_access',
      },
    },
  });
  const issuer = new URL(dg.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});
after(() => dg.stop());

const deviceMetadata = { client_name: 'Notes agent', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], token_endpoint_auth_method: 'none', scope: 'openid offline_access' };

async function register(metadata: Record<string, unknown>, initialAccessToken?: string) {
  const response = await oauth.dynamicClientRegistrationRequest(as, metadata as Partial<oauth.Client>, { ...insecure, ...(initialAccessToken ? { initialAccessToken } : {}) });
  return oauth.processDynamicClientRegistrationResponse(response);
}

const statement = (key: CryptoKey, claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'vendor' }).setIssuedAt().sign(key);
/** The RFC 7591 error in the body, or (a 401 with a Bearer challenge, RFC 6750 §3) in the challenge. */
const refusedWith = (code: string, status?: number) => (error: unknown) =>
  (error instanceof oauth.ResponseBodyError && error.error === code && (status === undefined || error.status === status)) ||
  (error instanceof oauth.WWWAuthenticateChallengeError && error.cause[0]?.parameters.error === code && (status === undefined || error.response.status === status));

test('discovery advertises the registration endpoint', () => {
  assert.equal(as.registration_endpoint, `${dg.issuer}/oauth/register`);
});

test('a client registers itself with an initial access token and signs in; consent shows it as unverified', async () => {
  const registered = await register(deviceMetadata, INITIAL_ACCESS_TOKEN);
  assert.match(registered.client_id, /^dyn-/);
  assert.equal(registered.token_endpoint_auth_method, 'none');
  assert.equal(registered.client_name, 'Notes agent');

  const config = await client.discovery(new URL(dg.issuer), registered.client_id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const authorization = await client.initiateDeviceAuthorization(config, { scope: 'openid offline_access' });
  const session = createPageSession(dg.issuer);
  const consent = await reachConsent(session, authorization.user_code, { username: 'demo', password: DEMO_PASSWORD });
  assert.match(consent.text, new RegExp(message(EN, 'consent.unverifiedTitle')));
  assert.ok(consent.text.includes(registered.client_id), 'the unverified notice names the client id');
  const approved = await session.request('/device/consent', {
    form: new URLSearchParams([['csrf', csrfOf(consent.text)], ['request', requestIdOf(consent.text)], ['decision', 'approve'], ['scope', 'openid'], ['scope', 'offline_access']]),
  });
  assert.equal(approved.status, 303);
  const tokens = await client.pollDeviceAuthorizationGrant(config, authorization);
  assert.ok(tokens.access_token && tokens.refresh_token);
  assert.equal(tokens.claims()?.sub, dg.demoUserId);
});

test('a client registers with an allow-listed software statement, whose claims win over the request', async () => {
  const signed = await statement(trusted, { software_id: 'notes-agent', client_name: 'Notes by Vendor', scope: 'openid' });
  const registered = await register({ ...deviceMetadata, client_name: 'Pretending to be Bank', software_statement: signed });
  assert.equal(registered.client_name, 'Notes by Vendor');
  assert.equal(registered.scope, 'openid');
  assert.equal(registered.software_id, 'notes-agent');
});

test('refused registrations get RFC 7591 errors naming what is wrong', async () => {
  await assert.rejects(register(deviceMetadata), refusedWith('invalid_token', 401), 'no credential at all');
  await assert.rejects(register(deviceMetadata, 'not-the-token'), refusedWith('invalid_token', 401), 'wrong initial access token');
  await assert.rejects(register({ ...deviceMetadata, grant_types: ['client_credentials'] }, INITIAL_ACCESS_TOKEN), refusedWith('invalid_client_metadata', 400));
  await assert.rejects(register({ ...deviceMetadata, token_endpoint_auth_method: 'client_secret_basic' }, INITIAL_ACCESS_TOKEN), refusedWith('invalid_client_metadata', 400));
  await assert.rejects(register({ ...deviceMetadata, scope: 'openid admin' }, INITIAL_ACCESS_TOKEN), refusedWith('invalid_client_metadata', 400));
  await assert.rejects(register({ ...deviceMetadata, client_name: 'x'.repeat(65) }, INITIAL_ACCESS_TOKEN), refusedWith('invalid_client_metadata', 400));
  await assert.rejects(register({ ...deviceMetadata, redirect_uris: ['https://evil.example/cb'] }, INITIAL_ACCESS_TOKEN), refusedWith('invalid_redirect_uri', 400));
  await assert.rejects(register({ ...deviceMetadata, software_statement: await statement(untrusted, { software_id: 'x' }) }), refusedWith('unapproved_software_statement', 400));
  await assert.rejects(register({ ...deviceMetadata, software_statement: 'not.a.jwt' }), refusedWith('invalid_software_statement', 400));
  await assert.rejects(register({ ...deviceMetadata, software_statement: await statement(trusted, { client_name: 'no id' }) }), refusedWith('invalid_software_statement', 400));
});

test('a body that is not JSON client metadata is invalid_client_metadata, never a 5xx', async () => {
  for (const [body, type] of [['{', 'application/json'], ['[1]', 'application/json'], ['client_name=x', 'application/x-www-form-urlencoded']]) {
    const response = await fetch(`${dg.issuer}/oauth/register`, { method: 'POST', headers: { 'content-type': type!, authorization: `Bearer ${INITIAL_ACCESS_TOKEN}` }, body });
    assert.equal(response.status, 400, body);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_client_metadata', body);
  }
});

test('with registration off, discovery names no endpoint and /oauth/register is not there', async () => {
  const plain = await startTestAppliance({ modules: 'none' });
  try {
    const metadata = (await (await fetch(`${plain.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    assert.equal(metadata.registration_endpoint, undefined);
    const response = await fetch(`${plain.issuer}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(response.status, 404);
  } finally {
    await plain.stop();
  }
});

test('registration cannot be turned on without a credential policy (no open registration)', () => {
  assert.throws(() => loadConfig({ overrides: { registration: { enabled: true } } }), (error: unknown) => error instanceof ConfigError && /no open registration/.test(error.message));
});
