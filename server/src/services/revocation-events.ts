import type { Logger } from 'pino';
import type { EventBus } from '../bus/types.ts';
import type { Store } from '../store/types.ts';

/**
 * The store with one addition: every grant it revokes is announced on the bus after the commit
 * (`revoked`), whoever revoked it in this process: "My devices", the revocation endpoint (RFC
 * 7009), refresh-token reuse, a blocked client's `--revoke-grants`. The push channels tell the
 * devices that watch that grant (docs/push.md#signed-in-devices). Revocations made by another
 * process (the admin CLI) are not on this bus; the channels find those by rechecking the grants
 * they watch (push/signed-in.ts).
 */
export function announceRevocations(store: Store, bus: EventBus, logger: Logger): Store {
  const grants = store.grants;
  return Object.assign(Object.create(Object.getPrototypeOf(store) as object) as Store, store, {
    grants: {
      ...grants,
      async revoke(id: string, now: number, reason: string): Promise<boolean> {
        const revoked = await grants.revoke(id, now, reason);
        if (revoked) {
          bus.publish({ type: 'revoked', grantId: id, at: now }).catch((error: unknown) => logger.error({ err: error }, 'announcing a revoked grant failed'));
        }
        return revoked;
      },
    },
  });
}
