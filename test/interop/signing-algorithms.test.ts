// The configurable signing algorithms (ES256 default, RS256, EdDSA): for each, openid-client
// accepts the ID token (signature checked against the JWKS) and jose verifies both tokens; and
// an appliance whose configured algorithm changes keeps advertising what it really signs with.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { runCli } from '../cli/run-cli.ts';

async function signInWithOpenidClient(dg: TestAppliance) {
  const config = await client.discovery(new URL(dg.issuer), 'alg-tv', { token_endpoint_auth_method: 'none' }, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  client.enableNonRepudiationChecks(config);
  const authorization = await client.initiateDeviceAuthorization(config, { scope: 'openid profile' });
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
  const tokens = await client.pollDeviceAuthorizationGrant(config, authorization, undefined, { signal: AbortSignal.timeout(20_000) });
  return { config, tokens };
}

for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
  test(`with signingAlg ${alg}, openid-client and jose accept the tokens`, async () => {
    const dg = await startTestAppliance({ overrides: { signingAlg: alg }, modules: 'none' });
    try {
      await dg.addClient({ clientId: 'alg-tv', pollInterval: 1 });
      const { config, tokens } = await signInWithOpenidClient(dg);
      assert.deepEqual(config.serverMetadata().id_token_signing_alg_values_supported, [alg]);
      assert.equal(decodeProtectedHeader(tokens.id_token!).alg, alg);
      assert.equal(tokens.claims()?.sub, dg.demoUserId);
      const jwks = createRemoteJWKSet(new URL(`${dg.issuer}/oauth/jwks`));
      await jwtVerify(tokens.id_token!, jwks, { issuer: dg.issuer, audience: 'alg-tv', algorithms: [alg] });
      await jwtVerify(tokens.access_token, jwks, { issuer: dg.issuer, typ: 'at+jwt', algorithms: [alg] });
    } finally {
      await dg.stop();
    }
  });
}

test('after signingAlg changes on an existing data directory, discovery advertises the algorithms really in use through the rotations', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-alg-change-'));
  try {
    const first = await startTestAppliance({ dataDir, modules: 'none' });
    await first.addClient({ clientId: 'alg-tv', pollInterval: 1 });
    await first.stop();
    // Same keys (ES256), new configured algorithm: each rotation moves one step towards RS256.
    for (let rotation = 0; rotation <= 2; rotation++) {
      if (rotation > 0) {
        const rotated = await runCli(['keys', 'rotate', '--data-dir', dataDir], { env: { DEVICEGATE_SIGNING_ALG: 'RS256' } });
        assert.equal(rotated.code, 0, rotated.stderr);
      }
      const dg = await startTestAppliance({ dataDir, overrides: { signingAlg: 'RS256' }, modules: 'none' });
      try {
        const { config, tokens } = await signInWithOpenidClient(dg);
        const signedWith = decodeProtectedHeader(tokens.id_token!).alg!;
        assert.ok(config.serverMetadata().id_token_signing_alg_values_supported?.includes(signedWith), `rotation ${rotation}: ${signedWith}`);
        if (rotation === 2) assert.equal(signedWith, 'RS256');
      } finally {
        await dg.stop();
      }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
