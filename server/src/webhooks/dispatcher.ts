import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import type { Config } from '../config.ts';
import type { Sealer } from '../keys/sealing.ts';
import type { WebhookDeliveryRecord, WebhookEndpointRecord, Webhooks } from '../store/types.ts';

/** Deliveries claimed per round; more go in the next round, at once. */
const CLAIM_BATCH = 50;

export interface WebhookAttempt {
  ok: boolean;
  /** HTTP status, or the network error. */
  result: string;
}

/**
 * One signed POST (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`
 * over `id.timestamp.body` with the endpoint's secret). 2xx is delivered; anything else, a
 * redirect included (a receiver's URL is configured, never followed elsewhere), is a failure.
 */
export async function sendWebhook(endpoint: { url: string; secret: string }, delivery: { id: string; payload: string }, timeoutMs: number): Promise<WebhookAttempt> {
  const timestamp = new Date();
  const signature = new Webhook(endpoint.secret).sign(delivery.id, timestamp, delivery.payload);
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'devicegate-webhooks',
        'webhook-id': delivery.id,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body: delivery.payload,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return { ok: response.status >= 200 && response.status < 300, result: `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { ok: false, result: cause ?? (error as Error).name ?? 'error' };
  }
}

/** A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Milliseconds before retry number `attempt` (1 = the first retry): doubling from retryDelay, capped. */
export function retryDelayAfter(attempt: number, config: Config['webhooks']): number {
  return Math.min(config.retryMaxDelay, config.retryDelay * 2 ** Math.min(attempt - 1, 40));
}

export interface WebhookDispatcher {
  start(): void;
  /** An event was enqueued here: deliver now rather than at the next poll. */
  kick(): void;
  /** Waits for the round under way (bounded by webhooks.timeout), then stops. */
  stop(): Promise<void>;
}

/**
 * Delivers the outbox (docs/deploy.md#metrics-traces-and-webhooks): claims due deliveries with a lease, POSTs each
 * signed, marks it delivered on 2xx, else schedules the retry with backoff or, after
 * webhooks.maxAttempts, moves it to the dead-letter list. At least once: a delivery is settled
 * only after its receiver answered 2xx, so an instance that dies mid-delivery leaves it leased,
 * and another instance (or this one restarted) sends it again when the lease ends, with the same
 * webhook-id. The clock here is the wall clock: leases and retries are real time across
 * instances.
 */
export function createWebhookDispatcher(deps: { webhooks: Webhooks; sealer: Sealer; config: Config['webhooks']; logger: Logger }): WebhookDispatcher {
  const { webhooks, sealer, config, logger } = deps;
  const owner = `instance-${randomBytes(8).toString('hex')}`;
  const secrets = new Map<string, string>();
  let endpoints = new Map<string, WebhookEndpointRecord>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = true;

  function secretOf(endpoint: WebhookEndpointRecord): string {
    let secret = secrets.get(endpoint.sealedSecret);
    if (!secret) secrets.set(endpoint.sealedSecret, (secret = sealer.unseal(endpoint.sealedSecret)));
    return secret;
  }

  async function deliver(delivery: WebhookDeliveryRecord): Promise<void> {
    const endpoint = endpoints.get(delivery.endpointId);
    const attempt = endpoint
      ? await sendWebhook({ url: endpoint.url, secret: secretOf(endpoint) }, delivery, config.timeout)
      : { ok: false, result: 'endpoint removed' };
    const now = Date.now();
    if (attempt.ok) {
      await webhooks.markDelivered(delivery.id, owner, now);
      return;
    }
    const dead = delivery.attempts >= config.maxAttempts;
    await webhooks.markFailed(delivery.id, owner, { error: attempt.result, nextAttemptAt: now + retryDelayAfter(delivery.attempts, config), dead, now });
    logger[dead ? 'error' : 'warn'](
      { webhookId: delivery.id, endpointId: delivery.endpointId, eventType: delivery.eventType, attempts: delivery.attempts, result: attempt.result },
      dead ? 'webhook delivery gave up (dead-letter list: devicegate webhooks dead-letters)' : 'webhook delivery failed; will retry',
    );
  }

  async function round(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const claimed = await webhooks.claim(now, owner, now + config.lease * 1000, CLAIM_BATCH);
      if (claimed.length === 0) return;
      if (claimed.some((delivery) => !endpoints.has(delivery.endpointId))) {
        endpoints = new Map((await webhooks.listEndpoints()).map((endpoint) => [endpoint.id, endpoint]));
      }
      // Different ordering keys go in parallel; one key has at most one claimed delivery.
      await Promise.all(claimed.map((delivery) => deliver(delivery).catch((error: unknown) => logger.error({ err: error, webhookId: delivery.id }, 'webhook delivery failed'))));
      if (stopped || claimed.length < CLAIM_BATCH) return;
    }
  }

  function run(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = round()
      .catch((error: unknown) => logger.error({ err: error }, 'webhook outbox unavailable'))
      .finally(() => {
        running = undefined;
        if (stopped) return;
        if (again) {
          again = false;
          setImmediate(run);
        } else {
          timer = setTimeout(run, config.pollInterval);
          timer.unref();
        }
      });
  }

  return {
    start() {
      stopped = false;
      run();
    },
    kick() {
      if (!stopped) setImmediate(run);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
