import type { Logger } from 'pino';
import type { EventBus } from '../bus/types.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/types.ts';
import { noMetrics, type Metrics } from '../observability/metrics.ts';

/**
 * The one place that says "this code expired" (RFC 8628 §3.5: after `expires_in` the device gets
 * expired_token). At a grant's `expiresAt` it claims, through the store, every grant that is due
 * and not yet reported, and publishes `expired` on the bus for each pending one (`closed` for one
 * that was decided but never redeemed); every push channel tells its
 * devices from that event, and the sweeper calls `reportDue` as the safety net for grants no
 * running instance was watching (one created by an instance that has since died). The store's
 * claim is atomic across instances, so each expiry is published once however many instances
 * watch it.
 *
 * It holds wake-up times, not grants: one entry per `RESOLUTION_MS` slot that anything expires
 * in, so ten thousand waiting devices cost a few thousand numbers at most. A wake-up fires at most
 * one slot late, never early. Times are the clock's (epoch ms), so a manual clock in tests moves
 * them too; a real timer only looks at the clock while anything is due.
 */
export interface ExpiryScheduler {
  /** Makes sure the grants expiring at `expiresAt` are reported then (idempotent per slot). */
  wakeAt(expiresAt: number): void;
  /** Claims every grant due now and publishes `expired` for each; returns how many. */
  reportDue(): Promise<number>;
  stop(): Promise<void>;
}

const RESOLUTION_MS = 250;
/** Grants claimed per store call; more are claimed in further calls of the same report. */
const CLAIM_BATCH = 500;

export function createExpiryScheduler(deps: { store: Store; bus: EventBus; clock: Clock; logger: Logger; metrics?: Metrics }): ExpiryScheduler {
  const { store, bus, clock, logger } = deps;
  const metrics = deps.metrics ?? noMetrics;
  /** Slots (expiresAt / RESOLUTION_MS, rounded up) that something expires in. */
  const slots = new Set<number>();
  let earliest = Infinity;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;

  async function claimAndPublish(): Promise<number> {
    let reported = 0;
    for (;;) {
      const now = clock.now();
      const due = await store.deviceGrants.claimExpired(now, CLAIM_BATCH);
      for (const grant of due) {
        if (grant.status === 'pending') metrics.deviceOutcome(grant.clientId, 'expired');
        // A pending code's device is told `expired`; a decided one that nobody redeemed in time is
        // closed, so what a channel still holds for it (a retained outcome, a broker account) goes.
        await bus.publish(
          grant.status === 'pending'
            ? { type: 'outcome', pushKey: grant.pushKey, deviceGrantId: grant.id, outcome: 'expired', at: now }
            : { type: 'closed', pushKey: grant.pushKey, deviceGrantId: grant.id, at: now },
        );
      }
      reported += due.length;
      if (due.length < CLAIM_BATCH) return reported;
    }
  }

  /** One report at a time; a wake-up during a report runs one more after it. */
  function reportDue(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = claimAndPublish().finally(() => {
      running = undefined;
      if (again && !stopped) {
        again = false;
        void reportDue().catch((error: unknown) => logger.error({ err: error }, 'reporting expired device codes failed'));
      }
    });
    return running;
  }

  function tick(): void {
    const now = clock.now();
    if (now < earliest) return;
    let next = Infinity;
    for (const slot of slots) {
      if (slot * RESOLUTION_MS <= now) slots.delete(slot);
      else next = Math.min(next, slot);
    }
    earliest = next * RESOLUTION_MS;
    if (slots.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
    reportDue().catch((error: unknown) => logger.error({ err: error }, 'reporting expired device codes failed'));
  }

  return {
    wakeAt(expiresAt) {
      if (stopped) return;
      const slot = Math.ceil(expiresAt / RESOLUTION_MS);
      if (slots.has(slot)) return;
      slots.add(slot);
      earliest = Math.min(earliest, slot * RESOLUTION_MS);
      if (timer === undefined) {
        timer = setInterval(tick, RESOLUTION_MS);
        timer.unref();
      }
    },
    reportDue,
    async stop() {
      stopped = true;
      clearInterval(timer);
      timer = undefined;
      slots.clear();
      await running?.catch(() => {});
    },
  };
}
