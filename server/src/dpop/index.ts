import type { FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';
import { replayCacheFull, resourceDpopError, tokenEndpointDpopError } from './errors.ts';
import type { DpopNonces } from './nonce.ts';
import { DpopProofError, dpopHeader, verifyDpopProof, type VerifiedProof } from './proof.ts';
import { ReplayCacheFullError, type ReplayCache } from './replay-cache.ts';

export { DpopProofError, verifyDpopProof, type VerifiedProof } from './proof.ts';
export { createMemoryReplayCache, type ReplayCache } from './replay-cache.ts';
export { createDpopNonces, type DpopNonces } from './nonce.ts';
export { dpopChallenge } from './errors.ts';

/**
 * DPoP (RFC 9449) for the appliance's own endpoints: proofs at the token endpoint (any grant,
 * RFC 9449 §5) and at userinfo (a protected resource, §7). Proofs are checked against the
 * issuer-based URL of the endpoint, never the Host header, so a proxy in front changes nothing.
 */
export function createDpopService(deps: { issuer: string; clock: Clock; replayCache: ReplayCache; nonces: DpopNonces }) {
  const { issuer, clock, replayCache, nonces } = deps;

  async function verify(proof: string, method: string, path: string, accessToken: string | undefined, nonceRequired: boolean) {
    return verifyDpopProof(
      proof,
      { method, url: `${issuer}${path}`, accessToken, nonce: { required: nonceRequired, isValid: nonces.isValid } },
      { now: clock.now(), replayCache },
    );
  }

  return {
    /** The nonce to send in DPoP-Nonce now. */
    nonce: () => nonces.current(),

    /**
     * The proof of a token request, or null when the request has none. Errors are the token
     * endpoint's: 400 invalid_dpop_proof or use_dpop_nonce, with a fresh DPoP-Nonce.
     */
    async verifyTokenRequest(request: FastifyRequest, path: string): Promise<VerifiedProof | null> {
      try {
        const proof = dpopHeader(request.headers);
        if (proof === null) return null;
        return await verify(proof, request.method, path, undefined, nonces.required);
      } catch (error) {
        if (error instanceof DpopProofError) throw tokenEndpointDpopError(error.code, error.message, nonces.current());
        if (error instanceof ReplayCacheFullError) throw replayCacheFull();
        throw error;
      }
    },

    /**
     * The proof beside a DPoP-bound access token at one of our protected resources (userinfo).
     * Nonces are not demanded here, but a stale one is refused so the client refreshes it.
     */
    async verifyResourceRequest(request: FastifyRequest, path: string, accessToken: string): Promise<VerifiedProof> {
      try {
        const proof = dpopHeader(request.headers);
        if (proof === null) throw new DpopProofError('invalid_dpop_proof', 'a DPoP proof is required with a DPoP access token');
        return await verify(proof, request.method, path, accessToken, false);
      } catch (error) {
        if (error instanceof DpopProofError) throw resourceDpopError(error.code, error.message, error.code === 'use_dpop_nonce' ? nonces.current() : undefined);
        if (error instanceof ReplayCacheFullError) throw replayCacheFull();
        throw error;
      }
    },
  };
}

export type DpopService = ReturnType<typeof createDpopService>;
