// private_key_jwt client authentication (RFC 7523 §2.2 and §3, OIDC Core §9): a signed
// assertion from a key of the client's registered JWK Set, iss = sub = client_id, aud naming
// the server, short-lived, each jti once.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { discover, insecure } from './support.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let dg: TestAppliance;
let as: oauth.AuthorizationServer;
let clientKey: CryptoKeyPair;
let jwksServer: Server;
let jwksUri: string;

async function newKey(kid: string): Promise<{ pair: CryptoKeyPair; jwk: JWK }> {
  const pair = (await generateKeyPair('ES256', { extractable: true })) as CryptoKeyPair;
  return { pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

before(async () => {
  dg = await startTestAppliance({ modules: 'none' });
  as = await discover(dg.issuer);
  const key = await newKey('m2m-1');
  clientKey = key.pair;
  await dg.addClient({ clientId: 'm2m', grantTypes: ['client_credentials'], scopes: ['api.read'], mayIntrospect: true, jwks: { keys: [key.jwk] } });
  // A second client whose keys are fetched from a JWKS URL (served here on loopback).
  const remote = await newKey('remote-1');
  jwksServer = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ keys: [remote.jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  await dg.addClient({ clientId: 'm2m-remote', grantTypes: ['client_credentials'], scopes: ['api.read'], jwksUri });
  remoteKey = remote.pair;
});
let remoteKey: CryptoKeyPair;
after(async () => {
  await dg.stop();
  await new Promise((resolve) => jwksServer.close(resolve));
});

interface AssertionOptions {
  clientId?: string;
  key?: CryptoKeyPair;
  aud?: string | string[];
  exp?: number;
  jti?: string;
  alg?: string;
  kid?: string;
}

async function assertion(options: AssertionOptions = {}): Promise<string> {
  const clientId = options.clientId ?? 'm2m';
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: options.alg ?? 'ES256', ...(options.kid ? { kid: options.kid } : {}) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(options.aud ?? dg.issuer)
    .setIssuedAt(now)
    .setExpirationTime(options.exp ?? now + 60)
    .setJti(options.jti ?? randomUUID())
    .sign((options.key ?? clientKey).privateKey as CryptoKey);
}

async function clientCredentials(clientAssertion: string, extra: Record<string, string> = {}) {
  const response = await fetch(`${dg.issuer}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion, ...extra }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('a client authenticates with private_key_jwt through oauth4webapi and gets a token', async () => {
  const client: oauth.Client = { client_id: 'm2m' };
  const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.PrivateKeyJwt(clientKey.privateKey), { scope: 'api.read' }, insecure);
  const tokens = await oauth.processClientCredentialsResponse(as, client, response);
  assert.equal(tokens.token_type, 'bearer');
  assert.equal(tokens.scope, 'api.read');
});

test('an assertion whose aud is the token endpoint URL is refused: the issuer is the one audience', async () => {
  const result = await clientCredentials(await assertion({ aud: `${dg.issuer}/oauth/token` }));
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_client');
});

test('an assertion whose aud is an array holding the issuer beside another audience is refused', async () => {
  const result = await clientCredentials(await assertion({ aud: [dg.issuer, 'https://other-as.example'] }));
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_client');
});

test('an assertion whose aud is an array of the issuer alone is refused: a single string only', async () => {
  const result = await clientCredentials(await assertion({ aud: [dg.issuer] }));
  assert.equal(result.status, 401);
});

test('with clientAssertionTokenEndpointAudience the token endpoint URL is accepted as the single aud, an array still not', async () => {
  const transition = await startTestAppliance({ modules: 'none', overrides: { clientAssertionTokenEndpointAudience: true } });
  try {
    const key = await newKey('m2m-1');
    await transition.addClient({ clientId: 'm2m', grantTypes: ['client_credentials'], scopes: ['api.read'], jwks: { keys: [key.jwk] } });
    const tokenEndpoint = `${transition.issuer}/oauth/token`;
    const send = async (aud: string | string[]) =>
      (
        await fetch(tokenEndpoint, {
          method: 'POST',
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_assertion_type: ASSERTION_TYPE,
            client_assertion: await assertion({ key: key.pair, aud }),
          }),
        })
      ).status;
    assert.equal(await send(tokenEndpoint), 200);
    assert.equal(await send(transition.issuer), 200);
    assert.equal(await send([tokenEndpoint, 'https://other-as.example']), 401);
  } finally {
    await transition.stop();
  }
});

test('an assertion signed by a key that is not registered is refused with invalid_client', async () => {
  const stranger = await newKey('m2m-1');
  const result = await clientCredentials(await assertion({ key: stranger.pair, kid: 'm2m-1' }));
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_client');
});

test('an assertion used a second time (same jti) is refused', async () => {
  const once = await assertion();
  assert.equal((await clientCredentials(once)).status, 200);
  const replay = await clientCredentials(once);
  assert.equal(replay.status, 401);
  assert.equal(replay.body.error, 'invalid_client');
});

test('a fresh assertion that reuses an earlier jti is refused', async () => {
  const jti = randomUUID();
  assert.equal((await clientCredentials(await assertion({ jti }))).status, 200);
  assert.equal((await clientCredentials(await assertion({ jti }))).status, 401);
});

test('an assertion for another audience is refused', async () => {
  const result = await clientCredentials(await assertion({ aud: 'https://other-as.example' }));
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_client');
});

test('an expired assertion is refused', async () => {
  const result = await clientCredentials(await assertion({ exp: Math.floor(Date.now() / 1000) - 60 }));
  assert.equal(result.status, 401);
});

test('an assertion valid for longer than five minutes is refused', async () => {
  const result = await clientCredentials(await assertion({ exp: Math.floor(Date.now() / 1000) + 3600 }));
  assert.equal(result.status, 401);
});

test('an HS256 assertion (client_secret_jwt) is refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  const hs = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('m2m')
    .setSubject('m2m')
    .setAudience(dg.issuer)
    .setExpirationTime(now + 60)
    .setJti(randomUUID())
    .sign(new Uint8Array(32));
  assert.equal((await clientCredentials(hs)).status, 401);
});

test('a client_id parameter that differs from the assertion subject is refused', async () => {
  const result = await clientCredentials(await assertion(), { client_id: 'demo-tv' });
  assert.equal(result.status, 401);
});

test('a private_key_jwt client cannot authenticate as a public client by naming itself', async () => {
  const response = await fetch(`${dg.issuer}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'm2m' }),
  });
  assert.equal(response.status, 401);
});

test('an assertion and a client secret together are refused as invalid_request', async () => {
  const result = await clientCredentials(await assertion(), { client_secret: 'anything-at-all-here' });
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'invalid_request');
});

test('keys are fetched from a registered jwks_uri', async () => {
  const result = await clientCredentials(await assertion({ clientId: 'm2m-remote', key: remoteKey, kid: 'remote-1' }));
  assert.equal(result.status, 200);
});

test('the same assertion authenticates at the introspection endpoint', async () => {
  const response = await fetch(`${dg.issuer}/oauth/introspect`, {
    method: 'POST',
    body: new URLSearchParams({ token: 'not-a-token', client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion() }),
  });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { active: false });
});

test('discovery advertises private_key_jwt and its signing algorithms', () => {
  assert.ok(as.token_endpoint_auth_methods_supported!.includes('private_key_jwt'));
  const algs = as.token_endpoint_auth_signing_alg_values_supported!;
  assert.ok(algs.includes('ES256') && !algs.some((alg) => alg === 'none' || alg.startsWith('HS')));
});
