import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
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
  sign(payload: JWTPayload, header: { typ: string }, expiresInSeconds: number): Promise<string>;
  currentAlg(): Promise<string>;
}

type PrivateKey = Awaited<ReturnType<typeof importJWK>>;

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
  let cached: { at: number; keys: SigningKeyRecord[]; signer: { kid: string; alg: string; key: PrivateKey } | null } | null =
    null;

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
    let signer = cached?.signer && current && cached.signer.kid === current.kid ? cached.signer : null;
    if (current && !signer) {
      const jwk = JSON.parse(deps.sealer.unseal(current.sealedPrivateJwk)) as JWK;
      signer = { kid: current.kid, alg: current.alg, key: await importJWK(jwk, current.alg) };
    }
    cached = { at: now, keys, signer };
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
    async sign(payload, header, expiresInSeconds) {
      const { signer } = await load();
      if (!signer) throw new KeyError('no_signing_key', 'no current signing key; run `devicegate keys rotate`');
      const now = Math.floor(deps.clock.now() / 1000);
      return new SignJWT(payload)
        .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: header.typ })
        .setIssuedAt(now)
        .setExpirationTime(now + expiresInSeconds)
        .sign(signer.key);
    },
  };
}
