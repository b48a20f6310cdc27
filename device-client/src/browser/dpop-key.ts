import { bytesToBase64url } from '../core/base64url.ts';
import { DPOP_ALG, sha256Base64url, thumbprintInput, type DpopPublicJwk, type DpopSigner } from '../core/dpop.ts';
import type { KeyValueDatabase } from './idb.ts';

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * The browser's DPoP key (RFC 9449): a WebCrypto P-256 pair made non-extractable, so no script,
 * not even this one, can read the private key; it is kept in IndexedDB as the CryptoKey itself
 * and survives a reload. WebCrypto's ECDSA signature is already the raw r||s JWS wants
 * (RFC 7518 §3.4).
 */
export async function loadOrCreateDpopKey(db: KeyValueDatabase, profile: string): Promise<DpopSigner> {
  const id = `dpop:${profile}`;
  let pair = await db.get<CryptoKeyPair>('keys', id);
  if (!pair) {
    pair = await crypto.subtle.generateKey(ECDSA_P256, false, ['sign', 'verify']);
    await db.put('keys', id, pair);
  }
  return signerOf(pair);
}

export async function forgetDpopKey(db: KeyValueDatabase, profile: string): Promise<void> {
  await db.delete('keys', `dpop:${profile}`);
}

async function signerOf(pair: CryptoKeyPair): Promise<DpopSigner> {
  // A public key is always exportable, whatever the pair's flag (WebCrypto §23.7).
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const publicJwk: DpopPublicJwk = { kty: 'EC', crv: 'P-256', x: String(jwk.x), y: String(jwk.y) };
  const thumbprint = await sha256Base64url(thumbprintInput(publicJwk));
  return {
    alg: DPOP_ALG,
    publicJwk,
    thumbprint,
    async sign(data) {
      const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(data));
      return bytesToBase64url(new Uint8Array(signature));
    },
  };
}
