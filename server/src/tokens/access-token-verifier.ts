import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Clock } from '../clock.ts';
import type { KeyStore } from '../keys/keystore.ts';
import { hashSecret } from '../secrets.ts';
import type { AccessTokenRecord, Store } from '../store/types.ts';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Decides whether an access token presented to us (introspection, userinfo, revocation) is
 * active: signature and `typ: at+jwt` for JWTs (RFC 9068 §4; an ID token is not an access
 * token), then the stored record, so a revoked JWT is inactive although its signature still
 * verifies ("JWT but revocable"), and the token family must not be revoked either.
 */
export function createAccessTokenVerifier(deps: { store: Store; keys: KeyStore; clock: Clock; issuer: string }) {
  async function lookup(token: string): Promise<AccessTokenRecord | null> {
    if (token.length > 8192) return null;
    if (JWT_SHAPE.test(token)) {
      try {
        const jwks = createLocalJWKSet(await deps.keys.jwks());
        const { payload } = await jwtVerify(token, jwks, {
          issuer: deps.issuer,
          typ: 'at+jwt',
          currentDate: new Date(deps.clock.now()),
        });
        return typeof payload.jti === 'string' ? deps.store.accessTokens.findByJti(payload.jti) : null;
      } catch {
        return null;
      }
    }
    return deps.store.accessTokens.findByTokenHash(hashSecret(token));
  }

  /** The record when the token is active now, else null. */
  async function verify(token: string): Promise<AccessTokenRecord | null> {
    const record = await lookup(token);
    if (!record || record.revokedAt !== null || record.expiresAt <= deps.clock.now()) return null;
    if (record.grantId) {
      const grant = await deps.store.grants.get(record.grantId);
      if (!grant || grant.revokedAt !== null) return null;
    }
    return record;
  }

  return { lookup, verify };
}

export type AccessTokenVerifier = ReturnType<typeof createAccessTokenVerifier>;
