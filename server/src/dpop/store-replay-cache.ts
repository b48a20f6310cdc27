import { createHash } from 'node:crypto';
import type { ReplayIdentifiers } from '../store/types.ts';
import type { ReplayCache } from './replay-cache.ts';

/**
 * The replay cache in the shared store, for several instances behind one issuer: a DPoP proof or
 * client assertion used on one instance is refused on every other (RFC 9449 §11.1;
 * docs/security.md DPOP-PROOF). Keys are stored as their SHA-256, so a client's long
 * `jti` cannot bloat or break the index; expired records are deleted by the sweeper.
 */
export function createStoreReplayCache(deps: { identifiers: ReplayIdentifiers; now: () => number }): ReplayCache {
  return {
    remember(key, expiresAt) {
      const digest = createHash('sha256').update(key, 'utf8').digest('base64url');
      return deps.identifiers.remember(digest, expiresAt, deps.now());
    },
  };
}
