/**
 * DPoP (RFC 9449) for a Node device: one ES256 key pair per profile, kept by the token store.
 * node:crypto only (no jose): the client depends on nothing the server uses, and a P-256
 * signature is a few lines. The proof's shape and the nonce memory are the core's
 * (core/dpop.ts), shared with the browser build.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { DPOP_ALG, proofId, proofSigningInput, thumbprintInput, type DpopPublicJwk, type DpopSigner, type ProofRequest } from './core/dpop.ts';
import { DeviceClientError } from './core/errors.ts';

export {
  createDpopNonces,
  dpopSupported,
  DPOP_ALG,
  isDpopTokenType,
  proofFor,
  type DpopContext,
  type DpopNonces,
  type DpopPublicJwk,
  type ProofRequest,
} from './core/dpop.ts';

/**
 * A device's DPoP key. The private key stays inside: it prints and serializes as the public key
 * alone, and leaves only through `exportPrivateJwk()`, for the (encrypted) token store.
 */
export interface DpopKey extends DpopSigner {
  exportPrivateJwk(): JsonWebKey;
  /** Signs at once (node:crypto). */
  sign(data: string): string;
}

/** RFC 7638 SHA-256 thumbprint. */
export function jwkThumbprint(jwk: DpopPublicJwk): string {
  return createHash('sha256').update(thumbprintInput(jwk), 'utf8').digest('base64url');
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

/** base64url(SHA-256(access token)), the `ath` claim (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/** One proof (RFC 9449 §4.2), signed at once: the core's signing input, a fresh `jti` every time. */
export function createProof(key: DpopKey, request: ProofRequest): string {
  const ath = request.accessToken !== undefined ? accessTokenHash(request.accessToken) : undefined;
  const input = proofSigningInput(key.publicJwk, request, proofId(), ath);
  return `${input}.${key.sign(input)}`;
}
