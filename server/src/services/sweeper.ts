import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { ExpiryScheduler } from '../device-grants/expiry.ts';
import type { Store } from '../store/types.ts';

/**
 * Periodic housekeeping: reports expired device codes no running instance was watching (the
 * expiry scheduler's safety net: a grant whose instance died before its code expired), then
 * deletes rows past their retention (docs/security.md SWEEP-EXPIRED).
 */
export function createSweeper(deps: { store: Store; expiry: ExpiryScheduler; clock: Clock; logger: Logger; retentionSeconds: number }) {
  const { store, expiry, clock, logger } = deps;

  async function runOnce(): Promise<void> {
    await expiry.reportDue();
    const now = clock.now();
    const swept =
      (await store.deviceGrants.sweep(now, deps.retentionSeconds)) +
      (await store.refreshTokens.sweep(now)) +
      (await store.accessTokens.sweep(now)) +
      (await store.sessions.sweep(now)) +
      (await store.replayIdentifiers.sweep(now)) +
      // Delivered webhooks are kept as long as expired grants, for an operator reading back what went out.
      (await store.webhooks.sweep(now - deps.retentionSeconds * 1000));
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
