import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, errors as joseErrors, jwtVerify, type JWK } from 'jose';
import { DevicegateError } from '../errors.ts';
import type { ReplayCache } from './replay-cache.ts';

/**
 * DPoP proof validation (RFC 9449 §4.3), shared by the token endpoint, userinfo and the
 * resource-server helper. Pure: jose and node:crypto only, no HTTP framework, so the helper that
 * API teams import pulls in nothing of the appliance.
 */

/**
 * Asymmetric algorithms only (RFC 9449 §4.2: never `none`, never a MAC). jose refuses RSA keys
 * under 2048 bits on its own.
 */
export const DPOP_SIGNING_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'PS256', 'RS384', 'PS384', 'RS512', 'PS512'];

/** RFC 9449 §11.1: proofs are short-lived; `iat` may be this far from our clock either way. */
const DPOP_IAT_WINDOW_SECONDS = 60;

/** A proof is a compact JWS with a public key in its header; anything longer is not one. */
const MAX_PROOF_LENGTH = 8192;
const MAX_JTI_LENGTH = 256;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

/** Why a proof was refused; callers turn it into their own error response. */
export class DpopProofError extends DevicegateError {
  declare readonly code: DpopErrorCode;
  constructor(code: DpopErrorCode, description: string) {
    super(code, description);
    this.name = 'DpopProofError';
  }
}

/** Server-issued nonces (RFC 9449 §8); see nonce.ts. */
export interface NonceCheck {
  /** Whether a proof without a nonce is refused with use_dpop_nonce. */
  required: boolean;
  isValid(nonce: string): boolean;
}

export interface ExpectedProof {
  /** HTTP method of the request, e.g. "POST". */
  method: string;
  /** The URL the client was told to use (issuer-based, not what a proxy forwarded). */
  url: string;
  /** For requests to protected resources: the access token the proof must hash (`ath`). */
  accessToken?: string;
  nonce?: NonceCheck;
}

export interface VerifiedProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key: the `cnf.jkt` tokens are bound to. */
  jkt: string;
  jwk: JWK;
  jti: string;
  iat: number;
}

/** base64url(SHA-256(access token)), the `ath` claim (RFC 9449 §4.2). */
function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/** RFC 9449 §4.3 item 9: htu is compared without query and fragment, after URL normalization. */
function normalizeHtu(value: string): string | null {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    url.search = '';
    url.hash = '';
    return url.href;
  } catch {
    return null;
  }
}

/**
 * The one DPoP header value of a request, or null when there is none. Node joins repeated
 * headers with ", " and a compact JWS has no comma, so a comma means several proofs (RFC 9449
 * §4.3 item 1: exactly one).
 */
export function dpopHeader(headers: Record<string, string | string[] | undefined>): string | null {
  const value = headers.dpop;
  if (value === undefined) return null;
  if (Array.isArray(value) || value.includes(',')) throw new DpopProofError('invalid_dpop_proof', 'send exactly one DPoP header');
  return value.trim();
}

/**
 * Validates one proof against the request it came with, then remembers its `jti` so it cannot be
 * used twice. Throws DpopProofError; never returns for a bad proof.
 */
export async function verifyDpopProof(
  proof: string,
  expected: ExpectedProof,
  deps: { now: number; replayCache: ReplayCache },
): Promise<VerifiedProof> {
  const invalid = (description: string) => new DpopProofError('invalid_dpop_proof', description);
  if (proof.length === 0 || proof.length > MAX_PROOF_LENGTH) throw invalid('the DPoP proof is empty or too long');

  let payload: Record<string, unknown>;
  let jwk: JWK;
  try {
    // EmbeddedJWK takes the key from the header and refuses a private or symmetric one.
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: DPOP_SIGNING_ALGS,
      currentDate: new Date(deps.now),
    });
    payload = verified.payload;
    jwk = verified.protectedHeader.jwk as JWK;
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) throw invalid(`the DPoP proof is invalid: ${error.message}`);
    throw invalid('the DPoP proof is not a JWT');
  }
  // EmbeddedJWK already refuses private keys; say so plainly rather than rely on key import.
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw invalid('the DPoP proof jwk must be a public key');

  const { jti, htm, htu, iat, nonce, ath } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) throw invalid('the DPoP proof needs a jti');
  if (htm !== expected.method) throw invalid('the DPoP proof htm does not match the request method');
  const expectedHtu = normalizeHtu(expected.url);
  if (typeof htu !== 'string' || expectedHtu === null || normalizeHtu(htu) !== expectedHtu) {
    throw invalid('the DPoP proof htu does not match the request URL');
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('the DPoP proof needs an iat');
  if (Math.abs(deps.now / 1000 - iat) > DPOP_IAT_WINDOW_SECONDS) {
    throw invalid(`the DPoP proof iat is more than ${DPOP_IAT_WINDOW_SECONDS} seconds from the server time`);
  }
  if (expected.accessToken !== undefined) {
    if (typeof ath !== 'string') throw invalid('the DPoP proof needs ath, the hash of the access token');
    if (ath !== accessTokenHash(expected.accessToken)) throw invalid('the DPoP proof ath does not match the access token');
  }
  if (expected.nonce) {
    // A stale nonce is answered like a missing one: the client retries with the fresh one.
    if (nonce === undefined && expected.nonce.required) throw new DpopProofError('use_dpop_nonce', 'the authorization server requires a nonce in the DPoP proof');
    if (nonce !== undefined && (typeof nonce !== 'string' || !expected.nonce.isValid(nonce))) {
      throw new DpopProofError('use_dpop_nonce', 'the DPoP nonce is invalid or has expired');
    }
  }

  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  // RFC 9449 §11.1: a jti is accepted once while its proof could be accepted at all.
  const fresh = await deps.replayCache.remember(`dpop:${jkt}:${jti}`, (iat + DPOP_IAT_WINDOW_SECONDS + 1) * 1000);
  if (!fresh) throw invalid('the DPoP proof was already used (jti replayed)');
  return { jkt, jwk, jti, iat };
}
