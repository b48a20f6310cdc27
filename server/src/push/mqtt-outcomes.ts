import type { GrantOutcome } from '@devicegate/protocol';
import type { Logger } from 'pino';
import type { GrantEvent } from '../bus/types.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/types.ts';
import { grantTopic } from './endpoints.ts';
import type { Metrics } from '../observability/metrics.ts';
import { inGrantTrace } from '../observability/tracing.ts';

/** A span for the retained publish, under the publisher's context the bus event carries. */
const inPushTrace = (channel: string, event: GrantEvent, work: () => Promise<void>) =>
  inGrantTrace(`push deliver ${channel}`, event.trace, { 'devicegate.push.channel': channel }, work);
import { outcomeMessage } from './messages.ts';

/** How a broker takes the appliance's own messages (in process for aedes, a client for mosquitto). */
export interface BrokerPublisher {
  /** QoS 1, retained; `expirySeconds` becomes the MQTT 5 message expiry where the broker has it. */
  publishRetained(topic: string, payload: string, expirySeconds: number): Promise<void>;
  /** An empty retained message removes the retained one (MQTT 3.1.1 §3.3.1.3, MQTT 5 §3.3.1.3). */
  clearRetained(topic: string): Promise<void>;
}

/** Scheduled clears are checked this often; a retained outcome lives at most this much longer. */
const CLEAR_CHECK_MS = 5000;

/**
 * Outcome messages on MQTT: each outcome is published once per grant, QoS 1 and retained, so a
 * device that subscribes late (or reconnects) still gets it at once. The retained message carries
 * a message expiry (MQTT 5 brokers drop it by themselves) and is also cleared by the appliance:
 * when the code is redeemed (`closed`), when an approved or denied code expires (the outcome is no
 * use then: the token endpoint answers expired_token), and `expiredRetention` seconds after an
 * `expired` (the time the appliance keeps the row to tell "expired" from "unknown").
 */
export function createMqttOutcomes(deps: {
  publisher: BrokerPublisher;
  store: Store;
  clock: Clock;
  logger: Logger;
  expiredRetentionSeconds: number;
  /** Push delivery latency, per `channel` (observability/metrics.ts). */
  metrics?: Metrics;
  channel?: string;
}) {
  const { publisher, store, clock, logger } = deps;
  /** Push key → the outcome retained for it and when to clear it. Only decided grants are here. */
  const retained = new Map<string, { outcome: GrantOutcome; clearAt: number }>();
  /** Work on one grant runs in order (an outcome, then its `closed`), never interleaved. */
  const queues = new Map<string, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;

  function inOrder(pushKey: string, task: () => Promise<void>): Promise<void> {
    const next = (queues.get(pushKey) ?? Promise.resolve()).then(task).catch((error: unknown) => {
      logger.error({ err: error }, 'publishing a push message failed');
    });
    queues.set(pushKey, next);
    void next.then(() => {
      if (queues.get(pushKey) === next) queues.delete(pushKey);
    });
    return next;
  }

  async function publishNow(pushKey: string, outcome: GrantOutcome, deviceGrantId: string | null): Promise<void> {
    // The sweeper may report an expiry the appliance already pushed: publish each outcome once.
    if (retained.get(pushKey)?.outcome === outcome) return;
    const now = clock.now();
    // Devices connected now are told even with no retention configured: at least one second.
    let clearAt = now + Math.max(1, deps.expiredRetentionSeconds) * 1000;
    if (outcome !== 'expired' && deviceGrantId) {
      const grant = await store.deviceGrants.findById(deviceGrantId);
      if (grant) clearAt = grant.expiresAt;
      // Decided but already past expiry: moot, the token endpoint answers expired_token now.
      if (clearAt <= now) return;
    }
    retained.set(pushKey, { outcome, clearAt });
    await publisher.publishRetained(grantTopic(pushKey), outcomeMessage(outcome), Math.ceil((clearAt - now) / 1000));
  }

  async function clear(pushKey: string): Promise<void> {
    retained.delete(pushKey);
    await publisher.clearRetained(grantTopic(pushKey));
  }

  async function clearDue(): Promise<void> {
    const now = clock.now();
    for (const [pushKey, entry] of retained) {
      if (entry.clearAt > now) continue;
      await inOrder(pushKey, async () => {
        // Re-read: a newer outcome may have replaced this one meanwhile.
        if ((retained.get(pushKey)?.clearAt ?? Infinity) <= clock.now()) await clear(pushKey);
      });
    }
  }

  return {
    /** The outcome retained for a grant by this process, if any. */
    retainedOutcome(pushKey: string): GrantOutcome | undefined {
      return retained.get(pushKey)?.outcome;
    },
    /** Publishes an outcome (once) for a grant; deviceGrantId tells when it stops being useful. */
    publishOutcome(pushKey: string, outcome: GrantOutcome, deviceGrantId: string | null): Promise<void> {
      return inOrder(pushKey, () => publishNow(pushKey, outcome, deviceGrantId));
    },
    handle(event: GrantEvent): Promise<void> {
      // A signed-in device's sign-out is no device code's outcome: the channel tells its session.
      if (event.type === 'revoked') return Promise.resolve();
      if (event.type === 'outcome') {
        return inOrder(event.pushKey, async () => {
          await inPushTrace(deps.channel ?? 'mqtt', event, () => publishNow(event.pushKey, event.outcome, event.deviceGrantId));
          deps.metrics?.pushDelivered(deps.channel ?? 'mqtt', (clock.now() - event.at) / 1000);
        });
      }
      return inOrder(event.pushKey, () => clear(event.pushKey));
    },
    start(): void {
      timer = setInterval(() => {
        clearDue().catch((error: unknown) => logger.error({ err: error }, 'clearing retained push messages failed'));
      }, CLEAR_CHECK_MS);
      timer.unref();
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}

export type MqttOutcomes = ReturnType<typeof createMqttOutcomes>;
