import pg from 'pg';

/**
 * One connection LISTENing on a notification channel of the store's own triggers
 * (https://www.postgresql.org/docs/current/sql-notify.html), so an instance hears of a change
 * committed by any other writer: another instance, or the CLI in another process, which has no
 * bus of its own. `listening()` is true only while the LISTEN is in place; a cache built on it
 * serves nothing otherwise, since a notification sent while the connection is down is never
 * replayed. The connection is checked with a query now and then (a line cut without a FIN never
 * reports itself) and reconnected with backoff, as the grant event bus does (../../bus/postgres-bus.ts).
 */
export interface ChangeListener {
  listening(): boolean;
  close(): Promise<void>;
}

export interface ChangeListenerOptions {
  connectionString: string;
  /** A plain identifier: LISTEN takes no parameter. */
  channel: string;
  /** A notification's payload. */
  onChange(payload: string): void;
  /** The LISTEN was lost (or is back): whatever was learnt from it may be stale. */
  onReset(): void;
  /** Reconnect backoff, doubling from min to max. */
  reconnectDelayMs?: { min: number; max: number };
  /** How often the connection is checked with a query. */
  healthCheckMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;

export async function createChangeListener(options: ChangeListenerOptions): Promise<ChangeListener> {
  const { channel } = options;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid notification channel name: ${channel}`);
  const delays = options.reconnectDelayMs ?? { min: 250, max: 5000 };
  let delay = delays.min;
  let client: pg.Client | undefined;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;

  async function listen(): Promise<pg.Client> {
    const next = new pg.Client({
      connectionString: options.connectionString,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      query_timeout: CONNECT_TIMEOUT_MS,
      application_name: 'devicegate-listen',
    });
    next.on('notification', (message) => {
      if (message.channel === channel && client === next) options.onChange(message.payload ?? '');
    });
    next.on('error', () => {}); // 'end' follows and reconnects
    next.on('end', () => {
      if (client !== next || closed) return;
      client = undefined;
      options.onReset();
      scheduleReconnect();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
    } catch (error) {
      await next.end().catch(() => {});
      throw error;
    }
    return next;
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      listen().then(
        (next) => {
          if (closed) return void next.end().catch(() => {});
          // Changes made while nobody listened are unknown: start from nothing.
          options.onReset();
          client = next;
          delay = delays.min;
        },
        () => {
          delay = Math.min(delay * 2, delays.max);
          scheduleReconnect();
        },
      );
    }, delay);
    reconnectTimer.unref();
  }

  const healthCheck = setInterval(() => {
    const current = client;
    current?.query('SELECT 1').catch(() => void current.end().catch(() => {}));
  }, options.healthCheckMs ?? 30_000);
  healthCheck.unref();

  try {
    client = await listen();
  } catch {
    // The store works without it (nothing is cached) and keeps trying.
    scheduleReconnect();
  }

  return {
    listening: () => client !== undefined,
    async close() {
      closed = true;
      clearInterval(healthCheck);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
}
