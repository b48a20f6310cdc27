import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../secrets.ts';
import type { NonceCheck } from './proof.ts';

/**
 * Server-issued DPoP nonces (RFC 9449 §8) without state: a nonce is an HMAC of the current time
 * window under a secret derived from the master key, so every instance that shares the master key
 * issues and accepts the same nonces (docs/security.md DPOP-NONCE). A nonce is accepted in its own
 * window and the next one, so it lives between one and two windows.
 */
export interface DpopNonces extends NonceCheck {
  /** The nonce to hand out now (DPoP-Nonce header). */
  current(): string;
}

export function createDpopNonces(options: { secret: Buffer; now: () => number; windowSeconds: number; required: boolean }): DpopNonces {
  if (options.secret.length < 32) throw new Error('the DPoP nonce secret must be at least 32 bytes');
  const windowMs = options.windowSeconds * 1000;
  const nonceFor = (window: number) =>
    createHmac('sha256', options.secret).update(`devicegate:dpop-nonce:${window}`).digest('base64url');
  const windowNow = () => Math.floor(options.now() / windowMs);

  return {
    required: options.required,
    current: () => nonceFor(windowNow()),
    isValid(nonce) {
      if (nonce.length > 64) return false;
      const window = windowNow();
      // Check both without short-circuit so timing does not tell which window matched.
      const inThis = constantTimeEqual(nonce, nonceFor(window));
      const inPrevious = constantTimeEqual(nonce, nonceFor(window - 1));
      return inThis || inPrevious;
    },
  };
}
