import type { Logger } from 'pino';
import type { EventBus } from '../bus/types.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/types.ts';

/**
 * Periodic housekeeping: tells waiting devices that their code expired (push), then deletes rows
 * past their retention (docs/security.md SWEEP-EXPIRED).
 */
export function createSweeper(deps: { store: Store; bus: EventBus; clock: Clock; logger: Logger; retentionSeconds: number }) {
  const { store, bus, clock, logger } = deps;

  async function runOnce(): Promise<void> {
    const now = clock.now();
    for (;;) {
      const expired = await store.deviceGrants.listExpiredPending(now, 500);
      for (const grant of expired) {
        await bus.publish({ type: 'outcome', pushKey: grant.pushKey, deviceGrantId: grant.id, outcome: 'expired', at: now });
      }
      if (expired.length < 500) break;
    }
    const swept =
      (await store.deviceGrants.sweep(now, deps.retentionSeconds)) +
      (await store.refreshTokens.sweep(now)) +
      (await store.accessTokens.sweep(now)) +
      (await store.sessions.sweep(now)) +
      ((await store.replayIdentifiers?.sweep(now)) ?? 0);
    if (swept > 0) logger.debug({ swept }, 'swept expired rows');
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  return {
    runOnce,
    start(intervalSeconds: number) {
      timer = setInterval(() => {
        running ??= runOnce()
          .catch((error) => logger.error({ err: error }, 'sweep failed'))
          .finally(() => {
            running = undefined;
          });
      }, intervalSeconds * 1000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
