// A DPoP proof or client assertion refused as replayed stays refused after a restart: the
// single-use jti record lives in the store, not in process memory (RFC 9449 §11.1, RFC 7523 §3
// item 7; docs/security.md DPOP-PROOF, ASSERTION-REPLAY).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { newDpopKey } from '../dpop/support.ts';
import { freePort } from '../support/ports.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let dataDir: string;
let port: number;
let clientKey: { pair: CryptoKeyPair; jwk: JWK };

before(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-replay-'));
  port = await freePort();
  const pair = (await generateKeyPair('ES256', { extractable: true })) as CryptoKeyPair;
  clientKey = { pair, jwk: { ...(await exportJWK(pair.publicKey)), kid: 'm2m-1', alg: 'ES256' } };
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

/**
 * The appliance on the same data directory and port each time: a restart keeps the database, the
 * master key and the issuer (so the audience and htu of what was sent before still match).
 */
async function start(): Promise<TestAppliance> {
  const dg = await startTestAppliance({ dataDir, modules: 'none', overrides: { port } });
  if (!(await dg.appliance.context.store.clients.get('m2m'))) {
    await dg.addClient({ clientId: 'm2m', grantTypes: ['client_credentials'], scopes: ['api.read'], jwks: { keys: [clientKey.jwk] } });
  }
  return dg;
}

async function assertion(issuer: string, jti = randomUUID()): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'm2m-1' })
    .setIssuer('m2m')
    .setSubject('m2m')
    .setAudience(issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .setJti(jti)
    .sign(clientKey.pair.privateKey as CryptoKey);
}

async function clientCredentials(issuer: string, clientAssertion: string, dpop?: string) {
  const response = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: dpop ? { dpop } : {},
    body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion }),
  });
  return { status: response.status, nonce: response.headers.get('dpop-nonce'), body: (await response.json()) as Record<string, unknown> };
}

test('a client assertion used before a restart is refused as a replay after it', async () => {
  let dg = await start();
  const once = await assertion(dg.issuer);
  try {
    assert.equal((await clientCredentials(dg.issuer, once)).status, 200);
  } finally {
    await dg.stop();
  }
  dg = await start();
  try {
    const replay = await clientCredentials(dg.issuer, once);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error, 'invalid_client');
  } finally {
    await dg.stop();
  }
});

test('a DPoP proof used before a restart is refused as a replay after it', async () => {
  const key = await newDpopKey();
  let dg = await start();
  let proof: string;
  try {
    const htu = `${dg.issuer}/oauth/token`;
    const makeProof = (nonce?: string) =>
      new SignJWT({ htm: 'POST', htu, jti: randomUUID(), ...(nonce ? { nonce } : {}) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
        .setIssuedAt()
        .sign(key.keyPair.privateKey as CryptoKey);
    // The first proof is answered with use_dpop_nonce and the nonce to use (RFC 9449 §8).
    const first = await clientCredentials(dg.issuer, await assertion(dg.issuer), await makeProof());
    assert.equal(first.body.error, 'use_dpop_nonce');
    proof = await makeProof(first.nonce!);
    const accepted = await clientCredentials(dg.issuer, await assertion(dg.issuer), proof);
    assert.equal(accepted.status, 200);
    assert.equal(accepted.body.token_type, 'DPoP');
  } finally {
    await dg.stop();
  }
  dg = await start();
  try {
    const replay = await clientCredentials(dg.issuer, await assertion(dg.issuer), proof);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_dpop_proof');
  } finally {
    await dg.stop();
  }
});
