import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../clock.ts';
import { ReplayCacheFullError, type ReplayCache } from '../dpop/replay-cache.ts';
import { DevicegateError } from '../errors.ts';
import type { ClientRecord } from '../store/types.ts';

/** RFC 7523 §2.2: the client_assertion_type of a JWT client assertion. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** private_key_jwt only: asymmetric keys (client_secret_jwt, a MAC over a shared secret, is not offered). */
export const CLIENT_ASSERTION_SIGNING_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'PS256', 'RS384', 'PS384', 'RS512', 'PS512'];

/**
 * An assertion may live this long at most (RFC 7523 §3 item 4 asks for a limited time window);
 * its jti is remembered as long as it could be accepted, so the bound keeps the cache small.
 */
const MAX_CLIENT_ASSERTION_LIFETIME_SECONDS = 300;
/** Clock skew allowed between a client and us on exp/nbf/iat. */
const CLOCK_TOLERANCE_SECONDS = 10;
const MAX_ASSERTION_LENGTH = 8192;

/** Why a client assertion (RFC 7523) was refused; its message becomes invalid_client's description. */
export class ClientAssertionError extends DevicegateError {
  constructor(message: string) {
    super('invalid_client_assertion', message);
    this.name = 'ClientAssertionError';
  }
}

/** The client a JWT assertion claims to come from (its `sub`, which must equal `iss`), unverified. */
export function claimedClientId(assertion: string): string | null {
  if (assertion.length > MAX_ASSERTION_LENGTH) return null;
  try {
    const { iss, sub } = decodeJwt(assertion);
    return typeof sub === 'string' && sub === iss && sub.length > 0 && sub.length <= 256 ? sub : null;
  } catch {
    return null;
  }
}

export const hasClientKeys = (client: ClientRecord): boolean => Boolean(client.jwks || client.jwksUri);

/**
 * Verifies private_key_jwt client assertions (RFC 7523 §2.2 and §3, OIDC Core §9): signed by a key
 * of the client's registered JWK Set, iss = sub = client_id, aud naming us, short-lived, and each
 * jti accepted once.
 *
 * The audience must be the issuer as one string (docs/security.md ASSERTION-AUDIENCE): an array,
 * or the token endpoint URL, is what lets an assertion made for another server be replayed to
 * this one when a client signs for several (the audience-injection attack on RFC 7523, fixed by
 * draft-ietf-oauth-rfc7523bis §5). `acceptTokenEndpointAudience` (config.ts) lets the token
 * endpoint URL through, still as a single string, while clients are moved over.
 */
export function createClientAssertionVerifier(deps: {
  issuer: string;
  tokenEndpoint: string;
  clock: Clock;
  replayCache: ReplayCache;
  acceptTokenEndpointAudience?: boolean;
}) {
  const audiences = deps.acceptTokenEndpointAudience ? [deps.issuer, deps.tokenEndpoint] : [deps.issuer];
  // Remote key sets are cached per URL; jose refetches on an unknown kid (key rotation) after a cooldown.
  const remoteKeySets = new Map<string, JWTVerifyGetKey>();
  const keysOf = (client: ClientRecord): JWTVerifyGetKey => {
    if (client.jwks) return createLocalJWKSet(client.jwks as JSONWebKeySet);
    const uri = client.jwksUri!;
    let keySet = remoteKeySets.get(uri);
    if (!keySet) {
      keySet = createRemoteJWKSet(new URL(uri), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
      remoteKeySets.set(uri, keySet);
    }
    return keySet;
  };

  return async function verifyClientAssertion(assertion: string, client: ClientRecord): Promise<void> {
    if (!hasClientKeys(client)) throw new ClientAssertionError('the client has no registered keys');
    const now = deps.clock.now();
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, keysOf(client), {
        issuer: client.clientId,
        subject: client.clientId,
        algorithms: CLIENT_ASSERTION_SIGNING_ALGS,
        requiredClaims: ['exp', 'jti'],
        currentDate: new Date(now),
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) throw new ClientAssertionError(error.message);
      throw error;
    }
    if (typeof payload.aud !== 'string' || !audiences.includes(payload.aud)) {
      throw new ClientAssertionError(`the assertion's aud must be the issuer ${deps.issuer} as a single string`);
    }
    const exp = payload.exp!;
    if (exp - now / 1000 > MAX_CLIENT_ASSERTION_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS) {
      throw new ClientAssertionError(`the assertion must expire within ${MAX_CLIENT_ASSERTION_LIFETIME_SECONDS} seconds`);
    }
    const jti = payload.jti;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw new ClientAssertionError('the assertion needs a jti');
    let fresh: boolean;
    try {
      fresh = await deps.replayCache.remember(`client-assertion:${client.clientId}:${jti}`, (exp + CLOCK_TOLERANCE_SECONDS) * 1000);
    } catch (error) {
      if (error instanceof ReplayCacheFullError) throw new ClientAssertionError('too many assertions in flight');
      throw error;
    }
    // RFC 7523 §3 item 7: a jti may be used once.
    if (!fresh) throw new ClientAssertionError('the assertion was already used (jti replayed)');
  };
}

export type ClientAssertionVerifier = ReturnType<typeof createClientAssertionVerifier>;
