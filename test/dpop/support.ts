// Helpers for the DPoP and private_key_jwt tests: a device flow driven by oauth4webapi (a
// third-party client, to show interop), and hand-made proofs for the cases a good client never
// sends (wrong htm, old iat, alg none, a private key in the header...).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import type { TestAppliance } from '../support/appliance.ts';

export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

export const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** The authorization server's metadata, read the way a client reads it (RFC 8414). */
export async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  const url = new URL(issuer);
  const response = await oauth.discoveryRequest(url, { algorithm: 'oauth2', ...insecure });
  return oauth.processDiscoveryResponse(url, response);
}

export interface DpopKey {
  alg: string;
  keyPair: CryptoKeyPair;
  publicJwk: JWK;
  jkt: string;
}

export async function newDpopKey(alg = 'ES256'): Promise<DpopKey> {
  const keyPair = (await generateKeyPair(alg, { extractable: true })) as CryptoKeyPair;
  const publicJwk = await exportJWK(keyPair.publicKey);
  return { alg, keyPair, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

/** Starts a device flow for `clientId` and approves it as the demo user; returns the device code. */
export async function approvedDeviceCode(dg: TestAppliance, clientId = 'demo-tv', scope = 'openid profile offline_access'): Promise<string> {
  const response = await fetch(`${dg.issuer}/oauth/device_authorization`, {
    method: 'POST',
    body: new URLSearchParams({ client_id: clientId, scope }),
  });
  assert.equal(response.status, 200);
  const authorization = (await response.json()) as { device_code: string; user_code: string };
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
  return authorization.device_code;
}

/**
 * Redeems an approved device code with oauth4webapi and its DPoP handle, retrying once on
 * use_dpop_nonce as the RFC intends (the handle remembers the nonce the server sent).
 */
export async function redeemWithDpop(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  deviceCode: string,
  dpop: oauth.DPoPHandle,
): Promise<oauth.TokenEndpointResponse> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const response = await oauth.deviceCodeGrantRequest(as, client, oauth.None(), deviceCode, { DPoP: dpop, ...insecure });
      return await oauth.processDeviceCodeResponse(as, client, response);
    } catch (error) {
      if (attempt === 0 && oauth.isDPoPNonceError(error)) continue;
      throw error;
    }
  }
  throw new Error('unreachable');
}

export async function refreshWithDpop(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  refreshToken: string,
  dpop: oauth.DPoPHandle,
): Promise<oauth.TokenEndpointResponse> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, { DPoP: dpop, ...insecure });
      return await oauth.processRefreshTokenResponse(as, client, response);
    } catch (error) {
      if (attempt === 0 && oauth.isDPoPNonceError(error)) continue;
      throw error;
    }
  }
  throw new Error('unreachable');
}

export interface ProofOptions {
  htm?: string;
  htu: string;
  iat?: number;
  jti?: string;
  nonce?: string;
  ath?: string;
  alg?: string;
  typ?: string;
  /** Replaces the header jwk (e.g. with a private one). */
  jwk?: JWK;
  /** Claims to leave out. */
  omit?: string[];
}

/** A DPoP proof made by hand with jose (RFC 9449 §4.2), so tests can break one rule at a time. */
export async function makeProof(key: DpopKey, options: ProofOptions): Promise<string> {
  const claims: Record<string, unknown> = {
    htm: options.htm ?? 'POST',
    htu: options.htu,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    jti: options.jti ?? randomUUID(),
    ...(options.nonce ? { nonce: options.nonce } : {}),
    ...(options.ath ? { ath: options.ath } : {}),
  };
  for (const name of options.omit ?? []) delete claims[name];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? key.alg, typ: options.typ ?? 'dpop+jwt', jwk: options.jwk ?? key.publicJwk })
    .sign(key.keyPair.privateKey as CryptoKey);
}

/** base64url JSON, for proofs jose will not sign (alg none). */
export const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export interface TokenResult {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POST to the token endpoint with an optional DPoP header. */
export async function tokenRequest(issuer: string, parameters: Record<string, string>, proof?: string): Promise<TokenResult> {
  const response = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: proof ? { DPoP: proof } : {},
    body: new URLSearchParams(parameters),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

/** The payload of a JWT, unverified (the tests check what the server put in it). */
export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
