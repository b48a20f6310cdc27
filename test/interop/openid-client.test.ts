// Interoperability: the third-party certified client `openid-client` (v6) drives the running
// appliance over HTTP, through discovery, the device flow, refresh, userinfo, introspection and
// revocation. ID token signatures are checked by openid-client (non-repudiation checks on) and
// again, independently, with jose against the published JWKS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';

let dg: TestAppliance;
const DEVICE = 'interop-tv';
const OPAQUE_DEVICE = 'interop-opaque-tv';
const RESOURCE_SERVER = { clientId: 'interop-api', secret: 'interop-api-secret-0123456789' };

before(async () => {
  dg = await startTestAppliance();
  // pollInterval 1 keeps openid-client's RFC-conformant polling quick.
  await dg.addClient({ clientId: DEVICE, pollInterval: 1 });
  await dg.addClient({ clientId: OPAQUE_DEVICE, pollInterval: 1, accessTokenFormat: 'opaque' });
  await dg.addClient(
    { clientId: RESOURCE_SERVER.clientId, grantTypes: ['client_credentials'], scopes: ['api'], mayIntrospect: true },
    RESOURCE_SERVER.secret,
  );
});
after(() => dg.stop());

const insecure = { execute: [client.allowInsecureRequests] };

async function deviceConfig(clientId: string): Promise<client.Configuration> {
  const config = await client.discovery(new URL(dg.issuer), clientId, { token_endpoint_auth_method: 'none' }, client.None(), insecure);
  // Makes openid-client verify ID token signatures against the JWKS, not only trust TLS.
  client.enableNonRepudiationChecks(config);
  return config;
}

function resourceServerConfig(auth: 'basic' | 'post' = 'basic'): Promise<client.Configuration> {
  return client.discovery(
    new URL(dg.issuer),
    RESOURCE_SERVER.clientId,
    { client_secret: RESOURCE_SERVER.secret },
    auth === 'basic' ? client.ClientSecretBasic(RESOURCE_SERVER.secret) : client.ClientSecretPost(RESOURCE_SERVER.secret),
    insecure,
  );
}

/**
 * The device flow through openid-client. The person decides (through the approval service, as
 * the verification pages would) before polling starts, or, with `afterPending`, right after the
 * device has been told authorization_pending once, observed through openid-client's customFetch
 * hook, so no sleeping decides anything.
 */
async function deviceFlow(
  config: client.Configuration,
  scope: string,
  options: { afterPending?: boolean; decide?: (userCode: string) => Promise<boolean> } = {},
) {
  const decide = options.decide ?? ((userCode: string) => dg.appliance.context.approval.approveUserCode(userCode, dg.demoUserId));
  const authorization = await client.initiateDeviceAuthorization(config, { scope });
  let pendingSeen = 0;
  if (!options.afterPending) {
    assert.equal(await decide(authorization.user_code), true);
  } else {
    config[client.customFetch] = async (url, init) => {
      const response = await fetch(url, init as RequestInit);
      if (url.endsWith('/oauth/token') && response.status === 400) {
        const body = (await response.clone().json()) as { error?: string };
        if (body.error === 'authorization_pending' && pendingSeen++ === 0) {
          assert.equal(await decide(authorization.user_code), true);
        }
      }
      return response;
    };
  }
  try {
    const tokens = await client.pollDeviceAuthorizationGrant(config, authorization, undefined, { signal: AbortSignal.timeout(30_000) });
    return { tokens, pendingSeen, authorization };
  } finally {
    delete config[client.customFetch];
  }
}

describe('openid-client against the appliance', () => {
  test('discovery yields the device, token, revocation, introspection, userinfo and JWKS endpoints', async () => {
    const metadata = (await deviceConfig(DEVICE)).serverMetadata();
    assert.equal(metadata.issuer, dg.issuer);
    assert.equal(metadata.device_authorization_endpoint, `${dg.issuer}/oauth/device_authorization`);
    assert.equal(metadata.token_endpoint, `${dg.issuer}/oauth/token`);
    assert.equal(metadata.revocation_endpoint, `${dg.issuer}/oauth/revoke`);
    assert.equal(metadata.introspection_endpoint, `${dg.issuer}/oauth/introspect`);
    assert.equal(metadata.userinfo_endpoint, `${dg.issuer}/oauth/userinfo`);
    assert.equal(metadata.jwks_uri, `${dg.issuer}/oauth/jwks`);
  });

  test('the device flow ends in tokens after authorization_pending, with a verified ID token', async () => {
    const config = await deviceConfig(DEVICE);
    const { tokens, pendingSeen, authorization } = await deviceFlow(config, 'openid profile email offline_access', { afterPending: true });
    assert.match(authorization.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.ok(pendingSeen >= 1);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
    const claims = tokens.claims();
    assert.ok(claims);
    assert.equal(claims.iss, dg.issuer);
    assert.equal(claims.aud, DEVICE);
    assert.equal(claims.sub, dg.demoUserId);
    assert.equal(typeof claims.auth_time, 'number');
    assert.equal(claims.preferred_username, 'demo');
    assert.equal(claims.email, 'demo@example.com');
  });

  test('ID and access tokens verify independently against the JWKS with jose', async () => {
    const config = await deviceConfig(DEVICE);
    const { tokens } = await deviceFlow(config, 'openid profile offline_access');
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const id = await jwtVerify(tokens.id_token!, jwks, { issuer: dg.issuer, audience: DEVICE });
    assert.equal(id.payload.sub, dg.demoUserId);
    assert.ok(id.protectedHeader.kid);
    assert.equal(id.protectedHeader.alg, 'ES256');
    // RFC 9068: typ at+jwt, iss, exp, aud, sub, client_id, iat, jti.
    const access = await jwtVerify(tokens.access_token, jwks, { issuer: dg.issuer, audience: dg.issuer, typ: 'at+jwt' });
    for (const claim of ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti', 'scope']) assert.ok(access.payload[claim] !== undefined, claim);
    assert.equal(access.payload.client_id, DEVICE);
    assert.equal(access.payload.scope, 'openid profile offline_access');
    // An ID token is not an access token (RFC 9068 §4): its typ differs.
    await assert.rejects(jwtVerify(tokens.id_token!, jwks, { typ: 'at+jwt' }));
  });

  test('a denied request ends polling with access_denied', async () => {
    const config = await deviceConfig(DEVICE);
    await assert.rejects(
      deviceFlow(config, 'openid', {
        afterPending: true,
        decide: (userCode) => dg.appliance.context.approval.denyUserCode(userCode, dg.demoUserId),
      }),
      (error: unknown) => error instanceof client.ResponseBodyError && error.error === 'access_denied',
    );
  });

  test('refreshTokenGrant rotates the refresh token and returns a new verified ID token', async () => {
    const config = await deviceConfig(DEVICE);
    const { tokens } = await deviceFlow(config, 'openid profile offline_access');
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(refreshed.access_token);
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.equal(refreshed.claims()?.sub, dg.demoUserId);
    // Once the successor is used, the rotated token is spent (docs/security.md REFRESH-RETRY).
    await client.refreshTokenGrant(config, refreshed.refresh_token!);
    await assert.rejects(
      client.refreshTokenGrant(config, tokens.refresh_token!),
      (error: unknown) => error instanceof client.ResponseBodyError && error.error === 'invalid_grant',
    );
  });

  test('fetchUserInfo returns the claims the scope releases', async () => {
    const config = await deviceConfig(DEVICE);
    const { tokens } = await deviceFlow(config, 'openid profile');
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, dg.demoUserId);
    assert.equal(userinfo.sub, dg.demoUserId);
    assert.equal(userinfo.preferred_username, 'demo');
    assert.equal(userinfo.name, 'Demo User');
    assert.equal(userinfo.email, undefined, 'email was not in scope');
  });

  test('tokenIntrospection by a resource server describes an active access token', async () => {
    const config = await deviceConfig(DEVICE);
    const { tokens } = await deviceFlow(config, 'openid offline_access');
    for (const auth of ['basic', 'post'] as const) {
      const info = await client.tokenIntrospection(await resourceServerConfig(auth), tokens.access_token);
      assert.equal(info.active, true);
      assert.equal(info.client_id, DEVICE);
      assert.equal(info.sub, dg.demoUserId);
      assert.equal(info.scope, 'openid offline_access');
      assert.equal(info.token_type, 'Bearer');
      assert.equal(info.iss, dg.issuer);
      assert.equal(typeof info.exp, 'number');
    }
    const refreshInfo = await client.tokenIntrospection(await resourceServerConfig(), tokens.refresh_token!);
    assert.equal(refreshInfo.active, true);
    assert.equal(refreshInfo.token_type, 'refresh_token');
  });

  test('a revoked JWT access token introspects as active: false although its signature still verifies', async () => {
    const config = await deviceConfig(DEVICE);
    const { tokens } = await deviceFlow(config, 'openid offline_access');
    const resourceServer = await resourceServerConfig();
    await client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' });
    const jwks = createRemoteJWKSet(new URL(`${dg.issuer}/oauth/jwks`));
    await jwtVerify(tokens.access_token, jwks, { issuer: dg.issuer, typ: 'at+jwt' });
    assert.equal((await client.tokenIntrospection(resourceServer, tokens.access_token)).active, false);
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, dg.demoUserId));
    // Revoking one access token leaves the grant: the refresh token still works.
    assert.equal((await client.tokenIntrospection(resourceServer, tokens.refresh_token!)).active, true);
  });

  test('revoking the refresh token ends the grant: its access token and refresh token go inactive', async () => {
    const config = await deviceConfig(DEVICE);
    const { tokens } = await deviceFlow(config, 'openid offline_access');
    const resourceServer = await resourceServerConfig();
    await client.tokenRevocation(config, tokens.refresh_token!);
    assert.equal((await client.tokenIntrospection(resourceServer, tokens.access_token)).active, false);
    assert.equal((await client.tokenIntrospection(resourceServer, tokens.refresh_token!)).active, false);
    await assert.rejects(
      client.refreshTokenGrant(config, tokens.refresh_token!),
      (error: unknown) => error instanceof client.ResponseBodyError && error.error === 'invalid_grant',
    );
  });

  test('revoking an unknown token succeeds (RFC 7009 §2.2)', async () => {
    await client.tokenRevocation(await deviceConfig(DEVICE), 'no-such-token');
  });

  test('a client that may not introspect is refused', async () => {
    const config = await deviceConfig(DEVICE);
    const { tokens } = await deviceFlow(config, 'openid');
    await assert.rejects(client.tokenIntrospection(config, tokens.access_token));
  });

  test('opaque reference access tokens work for introspection, userinfo and revocation', async () => {
    const config = await deviceConfig(OPAQUE_DEVICE);
    const { tokens } = await deviceFlow(config, 'openid profile offline_access');
    assert.equal(tokens.access_token.split('.').length, 1, 'not a JWT');
    assert.throws(() => decodeProtectedHeader(tokens.access_token));
    const resourceServer = await resourceServerConfig();
    const info = await client.tokenIntrospection(resourceServer, tokens.access_token);
    assert.equal(info.active, true);
    assert.equal(info.client_id, OPAQUE_DEVICE);
    assert.equal(info.sub, dg.demoUserId);
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, dg.demoUserId);
    assert.equal(userinfo.preferred_username, 'demo');
    // The ID token is still a signed JWT, verified by openid-client.
    assert.equal(tokens.claims()?.sub, dg.demoUserId);
    await client.tokenRevocation(config, tokens.access_token);
    assert.equal((await client.tokenIntrospection(resourceServer, tokens.access_token)).active, false);
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, dg.demoUserId));
  });

  test('client_credentials through openid-client with client_secret_basic and client_secret_post', async () => {
    for (const auth of ['basic', 'post'] as const) {
      const tokens = await client.clientCredentialsGrant(await resourceServerConfig(auth), { scope: 'api' });
      assert.ok(tokens.access_token);
      assert.equal(tokens.refresh_token, undefined);
      assert.equal(tokens.scope, 'api');
    }
  });
});
