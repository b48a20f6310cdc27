/**
 * DPoP (RFC 9449) for the device: one ES256 key pair per profile, proofs on every token request,
 * and server nonces remembered between requests. node:crypto only (no jose): the client depends on
 * nothing the server uses, and a P-256 signature is a few lines.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { DeviceClientError } from './errors.ts';

/** The one algorithm the client signs with: P-256 is fast on a Pi and every server accepts it. */
export const DPOP_ALG = 'ES256';

/** The public half as it goes in a proof header (RFC 9449 §4.2): the four members, nothing private. */
export interface DpopPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/**
 * A device's DPoP key. The private key stays inside: it prints and serializes as the public key
 * alone, and leaves only through `exportPrivateJwk()`, for the (encrypted) token store.
 */
export interface DpopKey {
  readonly alg: typeof DPOP_ALG;
  readonly publicJwk: DpopPublicJwk;
  /** RFC 7638 SHA-256 thumbprint: the `cnf.jkt` the appliance binds tokens to. */
  readonly thumbprint: string;
  exportPrivateJwk(): JsonWebKey;
  /** A JWS signature (raw r||s, RFC 7518 §3.4) of `data`. */
  sign(data: string): string;
}

/** RFC 7638 §3.2: the required members of an EC key, in lexicographic order, no whitespace. */
export function jwkThumbprint(jwk: DpopPublicJwk): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}

function wrap(privateKey: KeyObject): DpopKey {
  const exported = createPublicKey(privateKey).export({ format: 'jwk' });
  const publicJwk: DpopPublicJwk = { kty: 'EC', crv: 'P-256', x: String(exported.x), y: String(exported.y) };
  const thumbprint = jwkThumbprint(publicJwk);
  return {
    alg: DPOP_ALG,
    publicJwk,
    thumbprint,
    exportPrivateJwk: () => privateKey.export({ format: 'jwk' }),
    sign: (data) => sign('sha256', Buffer.from(data, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url'),
    // A key logged or stringified by mistake shows its public half only.
    toJSON: () => ({ alg: DPOP_ALG, jwk: publicJwk }),
    [Symbol.for('nodejs.util.inspect.custom')]: () => `DpopKey { alg: '${DPOP_ALG}', jkt: '${thumbprint}' }`,
  } as DpopKey;
}

export function generateDpopKey(): DpopKey {
  return wrap(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
}

/** The key kept in the token store; anything but a P-256 private key is refused. */
export function dpopKeyFromPrivateJwk(jwk: JsonWebKey): DpopKey {
  if (!jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new DeviceClientError('store', 'the DPoP key in the profile is not a P-256 private key');
  }
  try {
    return wrap(createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }));
  } catch {
    throw new DeviceClientError('store', 'the DPoP key in the profile cannot be read');
  }
}

/** RFC 9449 §4.2: htu is the target URI without query and fragment. */
function proofTarget(url: string | URL): string {
  const target = new URL(url);
  target.search = '';
  target.hash = '';
  return target.href;
}

/** base64url(SHA-256(access token)), the `ath` claim (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

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

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** One proof (RFC 9449 §4.2): a compact JWS, fresh `jti` every time (the server refuses replays). */
export function createProof(key: DpopKey, request: ProofRequest): string {
  const header = { typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk };
  const claims = {
    jti: randomBytes(16).toString('base64url'),
    htm: request.method.toUpperCase(),
    htu: proofTarget(request.url),
    iat: Math.floor(request.now / 1000),
    ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
    ...(request.accessToken !== undefined ? { ath: accessTokenHash(request.accessToken) } : {}),
  };
  const signingInput = `${b64json(header)}.${b64json(claims)}`;
  return `${signingInput}.${key.sign(signingInput)}`;
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
  key: DpopKey;
  nonces: DpopNonces;
  now: () => number;
}

/** A proof for `method url` with the latest nonce of that server. */
export function proofFor(context: DpopContext, method: string, url: string | URL, accessToken?: string): string {
  const nonce = context.nonces.get(url);
  return createProof(context.key, {
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
