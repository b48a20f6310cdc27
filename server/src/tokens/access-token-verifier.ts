import { verify as cryptoVerify } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { NODE_ALGORITHMS, type KeyStore } from '../keys/keystore.ts';
import { hashSecret } from '../secrets.ts';
import type { AccessTokenRecord, Store } from '../store/types.ts';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** A base64url JSON object of a JWS, or null when it is not one. */
function decodeObject(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** RFC 9068 §4: `typ` is `at+jwt`; media types are case-insensitive and may carry `application/` (RFC 7515 §4.1.9). */
function isAccessTokenTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const lower = typ.toLowerCase();
  return lower === 'at+jwt' || lower === 'application/at+jwt';
}

/**
 * Decides whether an access token presented to us (introspection, userinfo, revocation, token
 * exchange, push sign-in) is active.
 *
 * A token we issued is known by the SHA-256 hash of its whole string, stored with its record
 * (JWT or opaque alike): one lookup finds it, and the signature need not be checked again, since
 * only the exact string we signed has that hash (docs/security.md AT-HASH-LOOKUP). A JWT must
 * still name a published key, so a token stops being active when its key leaves the key set, as
 * it does for a resource server verifying it against our JWKS (docs/security.md KEYS-OVERLAP).
 *
 * A JWT the store does not know by hash (issued before hashes were stored, or not by us) is
 * verified as before: the key by `kid` among the published ones, the algorithm pinned to that
 * key's, the signature, `typ: at+jwt` (RFC 9068 §4: an ID token is not an access token), `iss`,
 * `exp` and `nbf`; then its record by `jti`, which must not carry another token's hash. Either
 * way the record decides revocation ("JWT but revocable"), and the token family must not be
 * revoked either.
 */
export function createAccessTokenVerifier(deps: { store: Store; keys: KeyStore; clock: Clock; issuer: string }) {
  /** The header of a compact JWS whose key is published, or null. */
  async function publishedKeyOf(header: Record<string, unknown> | null) {
    if (!header || typeof header.kid !== 'string') return null;
    const key = await deps.keys.verificationKey(header.kid);
    // RFC 8725 §3.1: the algorithm is the key's, never the one the token asks for.
    return key && header.alg === key.alg ? key : null;
  }

  /** The claims of a JWT signed by a published key, valid now, or null (RFC 7519 §7.2, RFC 9068 §4). */
  async function verifySignedJwt(token: string): Promise<Record<string, unknown> | null> {
    const [headerSegment, payloadSegment, signatureSegment] = token.split('.') as [string, string, string];
    const header = decodeObject(headerSegment);
    const key = await publishedKeyOf(header);
    // RFC 7515 §4.1.11: we understand no critical extension, so a token that names one is refused.
    if (!key || header!.crit !== undefined || !isAccessTokenTyp(header!.typ)) return null;
    const { digest, dsaEncoding } = NODE_ALGORITHMS[key.alg];
    const signed = Buffer.from(`${headerSegment}.${payloadSegment}`, 'ascii');
    const signature = Buffer.from(signatureSegment, 'base64url');
    if (!cryptoVerify(digest, signed, dsaEncoding ? { key: key.key, dsaEncoding } : key.key, signature)) return null;
    const claims = decodeObject(payloadSegment);
    if (!claims || claims.iss !== deps.issuer) return null;
    // RFC 7519 §4.1.4-5, with jose's reading kept: seconds, no leeway; `exp` is required here.
    const now = Math.floor(deps.clock.now() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp <= now) return null;
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now)) return null;
    if (claims.iat !== undefined && typeof claims.iat !== 'number') return null;
    return claims;
  }

  async function lookup(token: string): Promise<AccessTokenRecord | null> {
    if (token.length > 8192) return null;
    const isJwt = JWT_SHAPE.test(token);
    const known = await deps.store.accessTokens.findByTokenHash(hashSecret(token));
    if (known) {
      if (isJwt && !(await publishedKeyOf(decodeObject(token.slice(0, token.indexOf('.')))))) return null;
      return known;
    }
    if (!isJwt) return null;
    const claims = await verifySignedJwt(token);
    if (!claims || typeof claims.jti !== 'string') return null;
    const record = await deps.store.accessTokens.findByJti(claims.jti);
    // A record with a hash was issued as another string (only that one is this jti's token): a
    // re-encoding of it, or a signature made elsewhere with our key, is not it.
    return record && record.tokenHash === null ? record : null;
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
