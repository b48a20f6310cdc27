/**
 * DPoP (RFC 9449) as both runtimes share it: the proof's header and claims, nonce memory and
 * what discovery says. Signing is the runtime's: node:crypto in ../dpop.ts, a non-extractable
 * WebCrypto key in ../browser/dpop-key.ts. Both sign the same signing input built here.
 */
import { bytesToBase64url, textToBase64url } from './base64url.ts';

/** The one algorithm the client signs with: P-256 is fast on a Pi and every server accepts it. */
export const DPOP_ALG = 'ES256';

/** The public half as it goes in a proof header (RFC 9449 §4.2): the four members, nothing private. */
export interface DpopPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** What signs proofs: the Node key signs at once, a WebCrypto key asynchronously. */
export interface DpopSigner {
  readonly alg: typeof DPOP_ALG;
  readonly publicJwk: DpopPublicJwk;
  /** RFC 7638 SHA-256 thumbprint: the `cnf.jkt` the appliance binds tokens to. */
  readonly thumbprint: string;
  /** A JWS signature (raw r||s, RFC 7518 §3.4), base64url, of `data`. */
  sign(data: string): string | Promise<string>;
}

/** RFC 7638 §3.2: the required members of an EC key, in lexicographic order, no whitespace. */
export const thumbprintInput = (jwk: DpopPublicJwk): string => JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });

export interface ProofRequest {
  /** HTTP method of the request the proof goes with. */
  method: string;
  url: string | URL;
  /** Epoch ms: `iat` is this in seconds. */
  now: number;
  /** The server's latest DPoP-Nonce (RFC 9449 §8), when it gave one. */
  nonce?: string;
  /** For requests to a protected resource: the DPoP access token sent beside it (`ath`). */
  accessToken?: string;
}

/** RFC 9449 §4.2: htu is the target URI without query and fragment. */
function proofTarget(url: string | URL): string {
  const target = new URL(url);
  target.search = '';
  target.hash = '';
  return target.href;
}

/** A fresh `jti` (128 random bits): the server refuses a proof it has seen (RFC 9449 §11.1). */
export const proofId = (): string => bytesToBase64url(globalThis.crypto.getRandomValues(new Uint8Array(16)));

/** `header.claims` of one proof (RFC 9449 §4.2); `ath` is base64url(SHA-256(access token)). */
export function proofSigningInput(publicJwk: DpopPublicJwk, request: ProofRequest, jti: string, ath?: string): string {
  const header = { typ: 'dpop+jwt', alg: DPOP_ALG, jwk: publicJwk };
  const claims = {
    jti,
    htm: request.method.toUpperCase(),
    htu: proofTarget(request.url),
    iat: Math.floor(request.now / 1000),
    ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
    ...(ath !== undefined ? { ath } : {}),
  };
  return `${textToBase64url(JSON.stringify(header))}.${textToBase64url(JSON.stringify(claims))}`;
}

/** SHA-256 with WebCrypto (Node 20 and browsers alike), base64url. */
export async function sha256Base64url(text: string): Promise<string> {
  return bytesToBase64url(new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

/** One proof with any signer. */
export async function createProofWith(signer: DpopSigner, request: ProofRequest): Promise<string> {
  const ath = request.accessToken !== undefined ? await sha256Base64url(request.accessToken) : undefined;
  const input = proofSigningInput(signer.publicJwk, request, proofId(), ath);
  return `${input}.${await signer.sign(input)}`;
}

/**
 * The latest DPoP-Nonce of each server (RFC 9449 §8 and §9), by origin: the authorization server
 * and each resource server issue their own. Kept in memory only: a nonce lives minutes, and a
 * stale one costs one use_dpop_nonce round trip, never a failure.
 */
export interface DpopNonces {
  get(url: string | URL): string | undefined;
  /** Remembers the DPoP-Nonce of a response from `url`, if it carries a valid one. */
  remember(url: string | URL, headers: Headers): void;
}

/** RFC 9449 §8.1: nonce = 1*NQCHAR (printable ASCII but space, '"' and '\'). */
const NONCE_SYNTAX = /^[\x21\x23-\x5B\x5D-\x7E]{1,512}$/;
const MAX_SERVERS = 32;

export function createDpopNonces(): DpopNonces {
  const byOrigin = new Map<string, string>();
  return {
    get: (url) => byOrigin.get(new URL(url).origin),
    remember(url, headers) {
      const nonce = headers.get('dpop-nonce');
      if (!nonce || !NONCE_SYNTAX.test(nonce)) return;
      const origin = new URL(url).origin;
      byOrigin.delete(origin);
      byOrigin.set(origin, nonce);
      // A device talks to one or two servers; the bound only keeps a buggy app from growing it.
      if (byOrigin.size > MAX_SERVERS) byOrigin.delete(byOrigin.keys().next().value!);
    },
  };
}

/** What a request needs to carry proofs: the key, the nonce memory, and the clock for `iat`. */
export interface DpopContext {
  key: DpopSigner;
  nonces: DpopNonces;
  now: () => number;
}

/** A proof for `method url` with the latest nonce of that server. */
export function proofFor(context: DpopContext, method: string, url: string | URL, accessToken?: string): Promise<string> {
  const nonce = context.nonces.get(url);
  return createProofWith(context.key, {
    method,
    url,
    now: context.now(),
    ...(nonce !== undefined ? { nonce } : {}),
    ...(accessToken !== undefined ? { accessToken } : {}),
  });
}

/** Whether discovery advertises DPoP with the client's algorithm (RFC 9449 §5.1). */
export function dpopSupported(metadata: { dpop_signing_alg_values_supported?: unknown }): boolean {
  const algs = metadata.dpop_signing_alg_values_supported;
  return Array.isArray(algs) && algs.includes(DPOP_ALG);
}

/** token_type "DPoP" (RFC 9449 §5); compared without case, as RFC 6749 §5.1 says token types are. */
export const isDpopTokenType = (tokenType: string | undefined): boolean => tokenType?.toLowerCase() === 'dpop';
