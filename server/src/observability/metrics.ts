import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How a device grant ended, as counted (RFC 8628 §3.5's answers plus the redemption). */
export type DeviceGrantOutcome = 'approved' | 'denied' | 'expired' | 'redeemed';

/**
 * What the appliance counts for Prometheus (README "Operating it" lists every series). Labels are
 * low-cardinality on purpose: a route template (never a URL), a status, a registered client id,
 * a limit's bucket name, a push channel, a store operation; never a user, a code or an address,
 * which would both grow the series without bound and put personal data in the monitoring system.
 * With metrics off the appliance gets `noMetrics`, whose methods do nothing, so the hot paths pay
 * one empty call.
 */
export interface Metrics {
  readonly enabled: boolean;
  request(route: string, method: string, status: number, seconds: number): void;
  deviceAuthorized(clientId: string): void;
  /** `sinceAuthorization`: seconds from the device authorization to this outcome (approval, redemption). */
  deviceOutcome(clientId: string, outcome: DeviceGrantOutcome, sinceAuthorization?: number): void;
  slowDown(clientId: string): void;
  rateLimited(bucket: string): void;
  refreshTokenReuse(clientId: string): void;
  pushConnections(channel: string, delta: number): void;
  pushDelivered(channel: string, seconds: number): void;
  busLag(seconds: number): void;
  storeOperation(operation: string, seconds: number): void;
  /** Read at each scrape: whether the user code guess alarm is raised (docs/security.md CODE-GUESSING). */
  watchUserCodeAlarm(active: () => Promise<boolean>): void;
  /** The exposition text and its content type. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

const nothing = () => {};

export const noMetrics: Metrics = {
  enabled: false,
  request: nothing,
  deviceAuthorized: nothing,
  deviceOutcome: nothing,
  slowDown: nothing,
  rateLimited: nothing,
  refreshTokenReuse: nothing,
  pushConnections: nothing,
  pushDelivered: nothing,
  busLag: nothing,
  storeOperation: nothing,
  watchUserCodeAlarm: nothing,
  async scrape() {
    return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' };
  },
};

// Latency buckets in seconds. Requests and store operations: from a cached read (~0.1 ms) to an
// argon2 verification (~50 ms) and a slow database. Waits people make (approval, redemption): from
// a scan of the QR code to the code's default 10-minute life (config.ts deviceCodeLifetime).
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const HUMAN_BUCKETS = [5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];

/** Prometheus metrics in a registry of this appliance's own (no module-level singleton: tests run several). */
export function createPrometheusMetrics(): Metrics & { registry: Registry } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'devicegate_' });
  const registers = [registry];
  const requests = new Histogram({
    name: 'devicegate_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status; _count is the number of requests',
    labelNames: ['route', 'method', 'status'],
    buckets: FAST_BUCKETS,
    registers,
  });
  const authorizations = new Counter({
    name: 'devicegate_device_authorizations_total',
    help: 'Device authorizations (RFC 8628 §3.1) by client',
    labelNames: ['client'],
    registers,
  });
  const outcomes = new Counter({
    name: 'devicegate_device_grant_outcomes_total',
    help: 'Device grants approved, denied, expired unredeemed, or redeemed, by client',
    labelNames: ['client', 'outcome'],
    registers,
  });
  const toApproval = new Histogram({
    name: 'devicegate_device_authorization_to_approval_seconds',
    help: 'Time from device authorization to the person approving it',
    labelNames: ['client'],
    buckets: HUMAN_BUCKETS,
    registers,
  });
  const toRedemption = new Histogram({
    name: 'devicegate_device_authorization_to_redemption_seconds',
    help: 'Time from device authorization to the device redeeming its code for tokens',
    labelNames: ['client'],
    buckets: HUMAN_BUCKETS,
    registers,
  });
  const slowDowns = new Counter({
    name: 'devicegate_slow_down_total',
    help: 'Polls answered slow_down (RFC 8628 §3.5) by client',
    labelNames: ['client'],
    registers,
  });
  const rateLimited = new Counter({
    name: 'devicegate_rate_limited_total',
    help: 'Abuse-limit buckets tipped over (first refusal of a key in a window), by bucket',
    labelNames: ['bucket'],
    registers,
  });
  const reuse = new Counter({
    name: 'devicegate_refresh_token_reuse_detected_total',
    help: 'Rotated refresh tokens presented again (RFC 9700 §4.14.2), each revoking its grant, by client',
    labelNames: ['client'],
    registers,
  });
  const connections = new Gauge({
    name: 'devicegate_push_connections',
    help: 'Open push connections by channel',
    labelNames: ['channel'],
    registers,
  });
  const delivery = new Histogram({
    name: 'devicegate_push_delivery_seconds',
    help: 'Time from an outcome being published to its push being written to the waiting device, by channel',
    labelNames: ['channel'],
    buckets: FAST_BUCKETS,
    registers,
  });
  const busLag = new Histogram({
    name: 'devicegate_bus_lag_seconds',
    help: 'Time from an event being published on another instance to its arrival here',
    buckets: FAST_BUCKETS,
    registers,
  });
  const store = new Histogram({
    name: 'devicegate_store_operation_duration_seconds',
    help: 'Store operations by repository and method',
    labelNames: ['operation'],
    buckets: FAST_BUCKETS,
    registers,
  });
  let alarmActive: (() => Promise<boolean>) | undefined;
  new Gauge({
    name: 'devicegate_user_code_guess_alarm',
    help: '1 while the user code guess alarm is raised (docs/security.md CODE-GUESSING), else 0',
    registers,
    async collect() {
      this.set(alarmActive && (await alarmActive()) ? 1 : 0);
    },
  });
  const statusText = new Map<number, string>();
  const status = (code: number) => {
    let text = statusText.get(code);
    if (!text) statusText.set(code, (text = String(code)));
    return text;
  };

  return {
    enabled: true,
    registry,
    request(route, method, code, seconds) {
      requests.observe({ route, method, status: status(code) }, seconds);
    },
    deviceAuthorized(clientId) {
      authorizations.inc({ client: clientId });
    },
    deviceOutcome(clientId, outcome, sinceAuthorization) {
      outcomes.inc({ client: clientId, outcome });
      if (sinceAuthorization === undefined) return;
      if (outcome === 'approved') toApproval.observe({ client: clientId }, sinceAuthorization);
      if (outcome === 'redeemed') toRedemption.observe({ client: clientId }, sinceAuthorization);
    },
    slowDown(clientId) {
      slowDowns.inc({ client: clientId });
    },
    rateLimited(bucket) {
      rateLimited.inc({ bucket });
    },
    refreshTokenReuse(clientId) {
      reuse.inc({ client: clientId });
    },
    pushConnections(channel, delta) {
      connections.inc({ channel }, delta);
    },
    pushDelivered(channel, seconds) {
      delivery.observe({ channel }, Math.max(0, seconds));
    },
    busLag(seconds) {
      busLag.observe(Math.max(0, seconds));
    },
    storeOperation(operation, seconds) {
      store.observe({ operation }, seconds);
    },
    watchUserCodeAlarm(active) {
      alarmActive = active;
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/**
 * The store with every repository method timed (devicegate_store_operation_duration_seconds,
 * label `repository.method`). Only built when metrics are on, so the store itself stays free of
 * them and an appliance without metrics calls its methods directly.
 */
export function timedStore<S extends object>(store: S, metrics: Metrics): S {
  const out: Record<string, unknown> = {};
  for (const [name, repository] of Object.entries(store)) {
    if (typeof repository !== 'object' || repository === null) {
      out[name] = typeof repository === 'function' ? (repository as (...args: unknown[]) => unknown).bind(store) : repository;
      continue;
    }
    const timed: Record<string, unknown> = {};
    for (const [method, fn] of Object.entries(repository)) {
      if (typeof fn !== 'function') {
        timed[method] = fn;
        continue;
      }
      const operation = `${name}.${method}`;
      timed[method] = (...args: unknown[]) => {
        const started = performance.now();
        const result = (fn as (...a: unknown[]) => unknown).apply(repository, args);
        const done = () => metrics.storeOperation(operation, (performance.now() - started) / 1000);
        if (result instanceof Promise) result.then(done, done);
        else done();
        return result;
      };
    }
    out[name] = timed;
  }
  return out as S;
}
