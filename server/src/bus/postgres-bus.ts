import pg from 'pg';
import type { Logger } from 'pino';
import { randomId } from '../secrets.ts';
import { createListeners } from './listeners.ts';
import type { EventBus } from './types.ts';
import { encodeWireEvent, markRemoteEvent, parseWireEvent } from './wire.ts';

/** The notification channel grant events travel on between instances sharing one database. */
export const BUS_CHANNEL = 'devicegate_grant_events';

export interface PostgresBusOptions {
  connectionString: string;
  logger: Logger;
  channel?: string;
  /** Reconnect backoff of the listening connection: doubles from min to max. */
  reconnectDelayMs?: { min: number; max: number };
  /**
   * How often the listening connection is checked with a query. A connection cut without a FIN
   * (a NAT or proxy forgetting it, a failover) never reports an error on its own, and a silent
   * listener would drop every event; a failed check reconnects it.
   */
  healthCheckMs?: number;
}

/** Startup fails after this long without the database, as the MQTT bus does without its broker. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A bus shared by several appliance instances through PostgreSQL LISTEN/NOTIFY, for
 * sites that run PostgreSQL but no external MQTT broker (WebSocket push, or an embedded broker
 * per instance). Local listeners hear an event at once, in publish order, as on the in-process
 * bus; the event also goes out with `pg_notify` and every other instance, LISTENing on its own
 * connection, delivers it to its listeners (its own echo is skipped by origin).
 *
 * Ordering: notifications from one session arrive in the order sent, so every event of this
 * instance goes out through one pooled connection (max 1), which keeps `approved` ahead of
 * `closed`. Delivery is best effort, like the MQTT bus: an event sent while an instance's
 * listening connection is down (database restart, failover) is not replayed to it, and a device
 * waiting there learns the outcome by polling (RFC 8628 §3.4), which stays the fallback. The
 * decision itself is in the store before any event is published (services/approval.ts).
 */
export async function createPostgresBus(options: PostgresBusOptions): Promise<EventBus> {
  const { logger } = options;
  const channel = options.channel ?? BUS_CHANNEL;
  // LISTEN takes an identifier, not a parameter: only plain names are accepted.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid notification channel name: ${channel}`);
  const delays = options.reconnectDelayMs ?? { min: 250, max: 5000 };
  const healthCheckMs = options.healthCheckMs ?? 30_000;
  const origin = randomId();
  const listeners = createListeners((error) => logger.error({ err: error }, 'bus listener failed'));
  const connection = {
    connectionString: options.connectionString,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // A query on a dead connection fails here instead of waiting on TCP for hours.
    query_timeout: CONNECT_TIMEOUT_MS,
  };

  // One connection, so this instance's notifications leave in publish order (pg-pool queues FIFO).
  const publisher = new pg.Pool({ ...connection, max: 1, idleTimeoutMillis: 60_000 });
  publisher.on('error', (error) => logger.warn({ err: error }, 'grant event bus: idle publishing connection lost'));

  function onNotification(message: pg.Notification): void {
    if (message.channel !== channel) return;
    const wire = parseWireEvent(message.payload ?? '');
    if (!wire) {
      logger.warn('dropped a malformed notification on the grant event bus');
      return;
    }
    if (wire.origin === origin) return;
    listeners.deliver(markRemoteEvent(wire.event));
  }

  let closed = false;
  let listener: pg.Client | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let delay = delays.min;

  async function listen(): Promise<pg.Client> {
    const client = new pg.Client(connection);
    client.on('notification', onNotification);
    // Errors of an established connection also end it: 'end' schedules the reconnect.
    client.on('error', (error) => logger.warn({ err: error }, 'grant event bus: listening connection failed'));
    client.on('end', () => {
      if (listener !== client || closed) return;
      listener = undefined;
      logger.warn('grant event bus: listening connection ended, reconnecting');
      scheduleReconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return client;
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      listen().then(
        (client) => {
          if (closed) {
            void client.end().catch(() => {});
            return;
          }
          listener = client;
          delay = delays.min;
          logger.info('grant event bus: listening again');
        },
        (error) => {
          logger.warn({ err: error, retryInMs: delay }, 'grant event bus: reconnect failed');
          delay = Math.min(delay * 2, delays.max);
          scheduleReconnect();
        },
      );
    }, delay);
    reconnectTimer.unref();
  }

  const healthCheck = setInterval(() => {
    const client = listener;
    if (!client) return;
    client.query('SELECT 1').catch((error) => {
      logger.warn({ err: error }, 'grant event bus: health check failed, reconnecting');
      // Ending it emits 'end', which reconnects.
      void client.end().catch(() => {});
    });
  }, healthCheckMs);
  healthCheck.unref();

  try {
    listener = await listen();
  } catch (error) {
    clearInterval(healthCheck);
    await publisher.end();
    throw error;
  }

  const inFlight = new Set<Promise<void>>();

  return {
    async publish(event) {
      listeners.deliver(event);
      // Not awaited, as on the MQTT bus: the decision is committed and local devices are told;
      // the other instances' delivery must not hold up the person's approval. close() waits.
      const sent = publisher
        .query('SELECT pg_notify($1, $2)', [channel, encodeWireEvent({ origin, event })])
        .then(
          () => {},
          (error: unknown) => logger.error({ err: error }, 'grant event bus: notify failed'),
        )
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
    },
    subscribe: listeners.subscribe,
    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      clearInterval(healthCheck);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      await Promise.all(inFlight);
      const client = listener;
      listener = undefined;
      await Promise.all([client?.end().catch(() => {}), publisher.end()]);
    },
  };
}
