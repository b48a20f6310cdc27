/**
 * The device client's DPoP proofs (RFC 9449 §4.2), checked by an independent implementation
 * (jose, which the appliance uses to verify them) and against the RFC's rules one at a time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify } from 'jose';
import { createDpopNonces, createProof, dpopKeyFromPrivateJwk, dpopSupported, generateDpopKey } from '@devicegate/device-client';

const NOW = 1_900_000_000_000;

test('a proof is an ES256 JWS that verifies with the public key in its own header', async () => {
  const key = generateDpopKey();
  const proof = createProof(key, { method: 'POST', url: 'https://id.example/oauth/token', now: NOW });
  const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'], currentDate: new Date(NOW) });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.deepEqual(Object.keys(protectedHeader.jwk!).sort(), ['crv', 'kty', 'x', 'y'], 'the public members only');
  assert.equal(payload.htm, 'POST');
  assert.equal(payload.htu, 'https://id.example/oauth/token');
  assert.equal(payload.iat, NOW / 1000);
  assert.equal(payload.nonce, undefined);
  assert.equal(payload.ath, undefined);
});

test('the thumbprint is RFC 7638 of the public key, as the appliance computes cnf.jkt', async () => {
  const key = generateDpopKey();
  assert.equal(key.thumbprint, await calculateJwkThumbprint(key.publicJwk, 'sha256'));
});

test('every proof has a fresh jti', () => {
  const key = generateDpopKey();
  const jtis = new Set(
    Array.from({ length: 50 }, () => {
      const proof = createProof(key, { method: 'POST', url: 'https://id.example/oauth/token', now: NOW });
      return JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()).jti as string;
    }),
  );
  assert.equal(jtis.size, 50);
});

test('htu leaves out query and fragment; the nonce and ath (SHA-256 of the access token) are carried', async () => {
  const key = generateDpopKey();
  const proof = createProof(key, { method: 'get', url: 'https://api.example/v1/rooms?floor=2#top', now: NOW, nonce: 'n-1', accessToken: 'at-123' });
  const { payload } = await jwtVerify(proof, EmbeddedJWK, { currentDate: new Date(NOW) });
  assert.equal(payload.htu, 'https://api.example/v1/rooms');
  assert.equal(payload.htm, 'GET');
  assert.equal(payload.nonce, 'n-1');
  assert.equal(payload.ath, createHash('sha256').update('at-123').digest('base64url'));
});

test('the key survives the store: the private JWK gives back the same key', async () => {
  const key = generateDpopKey();
  const again = dpopKeyFromPrivateJwk(key.exportPrivateJwk());
  assert.equal(again.thumbprint, key.thumbprint);
  const proof = createProof(again, { method: 'POST', url: 'https://id.example/t', now: NOW });
  const { protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { currentDate: new Date(NOW) });
  assert.equal(await calculateJwkThumbprint(protectedHeader.jwk!, 'sha256'), key.thumbprint);
});

test('a key logged or serialized by mistake shows no private part', () => {
  const key = generateDpopKey();
  const d = key.exportPrivateJwk().d!;
  assert.ok(!JSON.stringify(key).includes(d));
  assert.ok(!inspect(key, { depth: 5 }).includes(d));
  assert.ok(!JSON.stringify(decodeProtectedHeader(createProof(key, { method: 'POST', url: 'https://x.example/', now: NOW }))).includes(d));
});

test('a stored key that is not a P-256 private key is refused as a store error', () => {
  const { d: _d, ...publicOnly } = generateDpopKey().exportPrivateJwk();
  for (const jwk of [publicOnly, { kty: 'RSA', n: 'x', e: 'AQAB', d: 'y' }, { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' }]) {
    assert.throws(() => dpopKeyFromPrivateJwk(jwk as JsonWebKey), (error: Error & { code?: string }) => error.code === 'store');
  }
});

test('nonces are kept per origin, the latest wins, and malformed ones are ignored', () => {
  const nonces = createDpopNonces();
  nonces.remember('https://id.example/oauth/token', new Headers({ 'DPoP-Nonce': 'first' }));
  nonces.remember('https://id.example/oauth/token', new Headers({ 'DPoP-Nonce': 'second' }));
  nonces.remember('https://api.example/v1', new Headers({ 'DPoP-Nonce': 'api' }));
  nonces.remember('https://id.example/oauth/token', new Headers({ 'DPoP-Nonce': 'has "quotes"' }));
  nonces.remember('https://id.example/oauth/token', new Headers());
  assert.equal(nonces.get('https://id.example/oauth/userinfo'), 'second');
  assert.equal(nonces.get('https://api.example/other'), 'api');
  assert.equal(nonces.get('https://elsewhere.example/'), undefined);
});

test('DPoP is used only where discovery advertises ES256', () => {
  assert.equal(dpopSupported({ dpop_signing_alg_values_supported: ['ES256', 'EdDSA'] }), true);
  assert.equal(dpopSupported({}), false);
  assert.equal(dpopSupported({ dpop_signing_alg_values_supported: ['RS256'] }), false);
  assert.equal(dpopSupported({ dpop_signing_alg_values_supported: 'ES256' }), false);
});
