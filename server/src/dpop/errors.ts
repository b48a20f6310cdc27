import { OAuthError } from '../errors.ts';
import { DPOP_SIGNING_ALGS, type DpopErrorCode } from './proof.ts';

/** Quoted-string content of a challenge parameter (RFC 9110 §5.6.4): no quotes or backslashes. */
const quoted = (value: string) => value.replace(/["\\]/g, "'");

/** RFC 9449 §7.1: the DPoP challenge, with the algorithms we accept. */
export function dpopChallenge(error?: string, description?: string): string {
  const parts = [`algs="${DPOP_SIGNING_ALGS.join(' ')}"`];
  if (error) parts.unshift(`error="${error}"`);
  if (description) parts.push(`error_description="${quoted(description)}"`);
  return `DPoP ${parts.join(', ')}`;
}

/** RFC 9449 §5 and §8: at the token endpoint, 400 with the fresh nonce beside it. */
export function tokenEndpointDpopError(code: DpopErrorCode, description: string, nonce: string): OAuthError {
  return new OAuthError(code, description, 400, { headers: { 'DPoP-Nonce': nonce } });
}

/** RFC 9449 §7.1 and §9: at a protected resource, 401 with a DPoP challenge. */
export function resourceDpopError(code: DpopErrorCode | 'invalid_token', description: string, nonce?: string): OAuthError {
  return new OAuthError(code, description, 401, {
    headers: { 'WWW-Authenticate': dpopChallenge(code, description), ...(nonce ? { 'DPoP-Nonce': nonce } : {}) },
  });
}

export const dpopRequired = (description: string) => new OAuthError('invalid_dpop_proof', description, 400);

/** The replay cache is full of live entries: a flood; refuse for now rather than forget. */
export const replayCacheFull = () =>
  new OAuthError('temporarily_unavailable', 'too many requests in flight; try again shortly', 503, { headers: { 'Retry-After': '5' } });
