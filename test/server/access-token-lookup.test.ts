// Access tokens found by the hash of their whole string (docs/security.md AT-HASH-LOOKUP), and
// JWTs the store does not know by hash verified by signature, with the algorithm pinned to the
// published key's (RFC 8725 §3.1) and `typ: at+jwt` (RFC 9068 §4).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashSecret } from '@devicegate/server/secrets';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { addIntrospector, introspect, signInDevice } from './http.ts';

let dg: TestAppliance;
let introspector: { clientId: string; secret: string };
before(async () => {
  dg = await startTestAppliance();
  introspector = await addIntrospector(dg);
});
after(() => dg.stop());

const active = async (token: string) => (await introspect(dg, token, introspector)).body.active;

/** The same JWT with its signature's base64url re-encoded: the last character's unused bits set. */
function reencoded(jwt: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const signature = jwt.slice(jwt.lastIndexOf('.') + 1);
  // 64 bytes of an ES256 signature are 86 characters; the last carries 4 bits and 2 unused ones.
  assert.equal(signature.length % 4, 2);
  const last = alphabet.indexOf(signature.at(-1)!);
  const variant = jwt.slice(0, -1) + alphabet[last | 0b1111]!;
  assert.notEqual(variant, jwt);
  assert.deepEqual(Buffer.from(variant.slice(variant.lastIndexOf('.') + 1), 'base64url'), Buffer.from(signature, 'base64url'), 'same signature bytes');
  return variant;
}

test('an issued JWT is stored with the hash of its whole string, and its record ends exactly at its exp', async () => {
  const { tokens } = await signInDevice(dg);
  const { jti, exp } = decodeJwt(tokens.access_token);
  const record = await dg.appliance.context.store.accessTokens.findByTokenHash(hashSecret(tokens.access_token));
  assert.ok(record);
  assert.equal(record.jti, jti);
  assert.equal(record.expiresAt, exp! * 1000);
  assert.equal(await active(tokens.access_token), true);
});

test('another encoding of an issued JWT, with the same signature bytes, is not active', async () => {
  const { tokens } = await signInDevice(dg);
  assert.equal(await active(tokens.access_token), true);
  assert.equal(await active(reencoded(tokens.access_token)), false);
});

test('a JWT the store does not know by hash (issued before hashes were stored) is verified by signature', async () => {
  const { keys, store, clock } = dg.appliance.context;
  const now = clock.now();
  const token = await keys.sign(
    { iss: dg.issuer, sub: dg.demoUserId, aud: dg.issuer, client_id: 'demo-tv', scope: 'openid', jti: `legacy-${now}` },
    { typ: 'at+jwt' },
    600,
    now,
  );
  await store.accessTokens.create({
    jti: `legacy-${now}`,
    tokenHash: null,
    grantId: null,
    clientId: 'demo-tv',
    subject: dg.demoUserId,
    scopes: ['openid'],
    audience: dg.issuer,
    issuedAt: now,
    expiresAt: (Math.floor(now / 1000) + 600) * 1000,
    dpopJkt: null,
    act: null,
  });
  assert.equal(await active(token), true);
  // Its signature is checked: one flipped byte of the payload makes it inactive.
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: 'openid admin' })).toString('base64url')}.${signature}`;
  assert.equal(await active(forged), false);
  // The algorithm is the key's: a header asking for another one is refused before any check.
  const otherAlg = `${Buffer.from(JSON.stringify({ ...decodeProtectedHeader(token), alg: 'HS256' })).toString('base64url')}.${payload}.${signature}`;
  assert.equal(await active(otherAlg), false);
  // An ID token is not an access token (RFC 9068 §4), though signed by the same key.
  const idToken = await keys.sign({ iss: dg.issuer, sub: dg.demoUserId, aud: 'demo-tv', jti: `legacy-${now}` }, { typ: 'JWT' }, 600, now);
  assert.equal(await active(idToken), false);
});

test('a stored token whose key is no longer published is not active, although the store knows its hash', async () => {
  const { store, clock } = dg.appliance.context;
  const { tokens } = await signInDevice(dg);
  const [, payload, signature] = tokens.access_token.split('.') as [string, string, string];
  const header = { ...decodeProtectedHeader(tokens.access_token), kid: 'a-key-that-left-the-key-set' };
  const token = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${payload}.${signature}`;
  const now = clock.now();
  await store.accessTokens.create({
    jti: `unpublished-${now}`,
    tokenHash: hashSecret(token),
    grantId: null,
    clientId: 'demo-tv',
    subject: dg.demoUserId,
    scopes: ['openid'],
    audience: dg.issuer,
    issuedAt: now,
    expiresAt: now + 600_000,
    dpopJkt: null,
    act: null,
  });
  assert.equal(await active(token), false);
});
