import { createPrivateKey, createPublicKey, sign as cryptoSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose';
import type { Clock } from '../clock.ts';
import type { SigningKeyRecord, SigningKeys } from '../store/types.ts';
import { KeyError, type Sealer } from './sealing.ts';

export type SigningAlg = 'ES256' | 'RS256' | 'EdDSA';

/**
 * Signing keys and their rotation (RFC 7517 key sets; docs/security.md KEYS-OVERLAP). Three states:
 *   next    – published in the JWKS, not yet signing, so verifiers learn it before it is used;
 *   current – signs everything;
 *   retired – still published until every token it signed has expired, then dropped.
 * `rotate()` moves next→current, current→retired and makes a fresh next, in one store write.
 * Every instance reloads the set from the store every `reloadMs`, so a rotation made by the CLI
 * reaches running servers without restarts.
 */
export interface KeyStore {
  ensureInitialized(): Promise<void>;
  rotate(): Promise<SigningKeyRecord[]>;
  list(): Promise<SigningKeyRecord[]>;
  /** Public keys to publish at the JWKS endpoint. */
  jwks(): Promise<{ keys: JWK[] }>;
  /**
   * A compact JWS of `payload` with `iat` and `exp` set, signed by the current key. `issuedAt`
   * (ms, default now) lets a caller keep a record whose expiry is exactly the token's `exp`.
   */
  sign(payload: JWTPayload, header: { typ: string }, expiresInSeconds: number, issuedAt?: number): Promise<string>;
  currentAlg(): Promise<string>;
  /**
   * The public key published under `kid`, imported once per key set, or undefined when no
   * published key has that kid (never published, or retired and dropped).
   */
  verificationKey(kid: string): Promise<VerificationKey | undefined>;
}

/** A published key ready for node:crypto, with the one algorithm it may verify. */
export interface VerificationKey {
  kid: string;
  alg: SigningAlg;
  key: KeyObject;
}

/**
 * node:crypto's digest and options for each JOSE algorithm: ES256 is SHA-256 with the signature as
 * R || S (RFC 7518 §3.4, not DER), RS256 RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), EdDSA
 * Ed25519, which takes no digest (RFC 8037 §3.1). node:crypto with KeyObjects imported once per
 * key set, rather than jose on WebCrypto, is about three times faster at signing and verifying
 * ES256 (docs/performance.md#keys-prepared-once, `node bench/crypto.mjs`).
 */
export const NODE_ALGORITHMS: Record<SigningAlg, { digest: string | null; dsaEncoding?: 'ieee-p1363' }> = {
  ES256: { digest: 'sha256', dsaEncoding: 'ieee-p1363' },
  RS256: { digest: 'sha256' },
  EdDSA: { digest: null },
};

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

export function createKeyStore(deps: {
  signingKeys: SigningKeys;
  sealer: Sealer;
  clock: Clock;
  alg: SigningAlg;
  /** Longest lifetime of anything signed, in seconds: how long a retired key stays published. */
  maxSignedLifetime: number;
  reloadMs?: number;
}): KeyStore {
  const reloadMs = deps.reloadMs ?? 10_000;
  let cached: {
    at: number;
    keys: SigningKeyRecord[];
    signer: { kid: string; alg: SigningAlg; key: KeyObject } | null;
    verifiers: Map<string, VerificationKey>;
  } | null = null;

  async function makeKey(state: SigningKeyRecord['state']): Promise<SigningKeyRecord> {
    const { privateKey, publicKey } = await generateKeyPair(deps.alg, {
      extractable: true,
      ...(deps.alg === 'RS256' ? { modulusLength: 2048 } : {}),
      ...(deps.alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
    });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    const now = deps.clock.now();
    return {
      kid,
      alg: deps.alg,
      sealedPrivateJwk: deps.sealer.seal(JSON.stringify({ ...privateJwk, kid, alg: deps.alg })),
      publicJwk: { ...publicJwk, kid, alg: deps.alg, use: 'sig' },
      state,
      createdAt: now,
      activatedAt: state === 'current' ? now : null,
      retireAfter: null,
    };
  }

  async function load(force = false) {
    const now = deps.clock.now();
    if (!force && cached && now - cached.at < reloadMs) return cached;
    const keys = (await deps.signingKeys.list()).filter((key) => key.state !== 'retired' || (key.retireAfter ?? 0) > now);
    const current = keys.find((key) => key.state === 'current');
    // Keys are imported once per key set, not per request: a reload that finds the same kids keeps
    // the imported objects, a rotation imports only what is new (docs/performance.md#keys-prepared-once).
    let signer = cached?.signer && current && cached.signer.kid === current.kid ? cached.signer : null;
    if (current && !signer) {
      const jwk = JSON.parse(deps.sealer.unseal(current.sealedPrivateJwk)) as JWK;
      signer = { kid: current.kid, alg: current.alg as SigningAlg, key: createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }) };
    }
    const verifiers = new Map<string, VerificationKey>();
    for (const key of keys) {
      const known = cached?.verifiers.get(key.kid);
      verifiers.set(
        key.kid,
        known ?? { kid: key.kid, alg: key.alg as SigningAlg, key: createPublicKey({ key: key.publicJwk as JsonWebKey, format: 'jwk' }) },
      );
    }
    cached = { at: now, keys, signer, verifiers };
    return cached;
  }

  return {
    async ensureInitialized() {
      const existing = await deps.signingKeys.list();
      if (existing.some((key) => key.state === 'current')) return;
      await deps.signingKeys.replaceAll([...existing, await makeKey('current'), await makeKey('next')]);
      await load(true);
    },
    async rotate() {
      const now = deps.clock.now();
      const existing = (await deps.signingKeys.list()).filter(
        (key) => key.state !== 'retired' || (key.retireAfter ?? 0) > now,
      );
      const next = existing.find((key) => key.state === 'next') ?? (await makeKey('next'));
      const rotated = existing
        .filter((key) => key.kid !== next.kid)
        .map((key) =>
          key.state === 'current'
            ? { ...key, state: 'retired' as const, retireAfter: now + deps.maxSignedLifetime * 1000 }
            : key,
        );
      const promoted = { ...next, state: 'current' as const, activatedAt: now };
      const keys = [...rotated, promoted, await makeKey('next')];
      await deps.signingKeys.replaceAll(keys);
      await load(true);
      return keys;
    },
    async list() {
      return deps.signingKeys.list();
    },
    async jwks() {
      const { keys } = await load();
      return { keys: keys.map((key) => key.publicJwk as JWK) };
    },
    async currentAlg() {
      const { signer } = await load();
      return signer?.alg ?? deps.alg;
    },
    async verificationKey(kid) {
      return (await load()).verifiers.get(kid);
    },
    async sign(payload, header, expiresInSeconds, issuedAt = deps.clock.now()) {
      const { signer } = await load();
      if (!signer) throw new KeyError('no_signing_key', 'no current signing key; run `devicegate keys rotate`');
      const iat = Math.floor(issuedAt / 1000);
      // RFC 7515 §7.1 compact serialisation: BASE64URL(header) . BASE64URL(payload) . BASE64URL(signature).
      const input = `${base64url({ alg: signer.alg, kid: signer.kid, typ: header.typ })}.${base64url({ ...payload, iat, exp: iat + expiresInSeconds })}`;
      const { digest, dsaEncoding } = NODE_ALGORITHMS[signer.alg];
      const signature = cryptoSign(digest, Buffer.from(input, 'utf8'), dsaEncoding ? { key: signer.key, dsaEncoding } : signer.key);
      return `${input}.${signature.toString('base64url')}`;
    },
  };
}
