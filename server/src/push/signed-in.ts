import type { Logger } from 'pino';
import type { EventBus } from '../bus/types.ts';
import type { Clock } from '../clock.ts';
import type { AccessTokenVerifier } from '../tokens/access-token-verifier.ts';
import type { Store } from '../store/types.ts';

/**
 * How often the grants that signed-in devices watch are read again, for revocations this process
 * did not make (the admin CLI, another instance on a bus that does not reach here). Revocations
 * made here reach the devices at once through the bus; this bounds the others to a few seconds,
 * at one indexed read per watched grant per round.
 */
const RECHECK_INTERVAL_MS = 5_000;

/** One signed-in device's watch: told once when its grant is revoked. */
export type SignedOut = () => void;

export interface SignedInWatch {
  /**
   * Checks the access token (active, of a grant) and watches its grant: `onRevoked` runs once
   * when the grant is revoked. Returns the grant id and the function that ends the watch, or
   * null when the token is not active or belongs to no grant (client credentials).
   */
  watch(accessToken: string, onRevoked: SignedOut): Promise<{ grantId: string; unwatch: () => void } | null>;
  start(): void;
  stop(): void;
}

/**
 * The signed-in devices of one push channel, by grant (docs/push.md#signed-in-devices). The
 * subscription is authenticated by the access token the device holds, so a device can watch its
 * own grant and nobody else's, and what it learns is one bit: revoked.
 */
export function createSignedInWatch(deps: { store: Store; bus: EventBus; clock: Clock; logger: Logger; accessTokens: AccessTokenVerifier }): SignedInWatch {
  const { store, bus, logger, accessTokens } = deps;
  const watchers = new Map<string, Set<SignedOut>>();
  let unsubscribe: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;

  function revoked(grantId: string): void {
    const set = watchers.get(grantId);
    if (!set) return;
    watchers.delete(grantId);
    for (const onRevoked of set) onRevoked();
  }

  async function recheck(): Promise<void> {
    for (const grantId of [...watchers.keys()]) {
      const grant = await store.grants.get(grantId);
      if (!grant || grant.revokedAt !== null) revoked(grantId);
    }
  }

  return {
    async watch(accessToken, onRevoked) {
      const record = await accessTokens.verify(accessToken);
      if (!record?.grantId) return null;
      const grantId = record.grantId;
      let set = watchers.get(grantId);
      if (!set) watchers.set(grantId, (set = new Set()));
      set.add(onRevoked);
      return {
        grantId,
        unwatch() {
          const current = watchers.get(grantId);
          if (!current) return;
          current.delete(onRevoked);
          if (current.size === 0) watchers.delete(grantId);
        },
      };
    },
    start() {
      unsubscribe = bus.subscribe((event) => {
        if (event.type === 'revoked') revoked(event.grantId);
      });
      timer = setInterval(() => {
        recheck().catch((error: unknown) => logger.error({ err: error }, 'rechecking watched grants failed'));
      }, RECHECK_INTERVAL_MS);
      timer.unref();
    },
    stop() {
      unsubscribe?.();
      clearInterval(timer);
      watchers.clear();
    },
  };
}
