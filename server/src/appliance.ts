import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createApp } from './app.ts';
import { openBus } from './bus/open.ts';
import type { EventBus } from './bus/types.ts';
import { systemClock, type Clock } from './clock.ts';
import { ConfigError, type Config } from './config.ts';
import type { AppContext } from './context.ts';
import { createDpopService } from './dpop/index.ts';
import { createDpopNonces } from './dpop/nonce.ts';
import { createStoreReplayCache } from './dpop/store-replay-cache.ts';
import { createClientAssertionVerifier } from './http/client-assertion.ts';
import { createClientAuthenticator } from './http/client-auth.ts';
import { withClientMetadataDocuments } from './services/client-registration.ts';
import { paths } from './endpoints/paths.ts';
import { deriveKey } from './secrets.ts';
import { createKeyStore } from './keys/keystore.ts';
import { createSealer, loadOrCreateMasterKeyFile, parseMasterKey } from './keys/sealing.ts';
import { createLogger } from './logger.ts';
import { ListenerError } from './listeners.ts';
import { tracedBus, tracedKeys, tracedStore } from './observability/tracing.ts';
import { createWebhookDispatcher } from './webhooks/dispatcher.ts';
import { enqueueWebhookEvents } from './webhooks/events.ts';
import { isRemoteEvent } from './bus/wire.ts';
import { countAuditEvents } from './observability/audit-metrics.ts';
import { createPrometheusMetrics, noMetrics, timedStore, type Metrics } from './observability/metrics.ts';
import type { ApplianceModule } from './modules.ts';
import { createApprovalService, createDeviceAuthorizer, createExpiryScheduler } from './device-grants/index.ts';
import { limitClientAuthenticationFailures } from './services/abuse-limits.ts';
import { createAuditLog } from './services/audit.ts';
import { createConsentFlows } from './services/consent-flows.ts';
import { createKnownBrowsers } from './services/known-browsers.ts';
import { bootstrap } from './services/bootstrap.ts';
import { announceRevocations } from './services/revocation-events.ts';
import { createConfiguredLimiterFactory, createRateLimits, limitRules, type RateLimits } from './services/rate-limits.ts';
import { createUserCodeGuessAlarm } from './services/user-code-alarm.ts';
import { createUserCodeEntry } from './services/user-code-entry.ts';
import { createSweeper } from './services/sweeper.ts';
import { createSqliteStore } from './store/sqlite/sqlite-store.ts';
import type { Store } from './store/types.ts';
import { createAccessTokenVerifier } from './tokens/access-token-verifier.ts';
import { createTokenService } from './tokens/token-service.ts';

export interface ApplianceDependencies {
  clock?: Clock;
  logger?: Logger;
  /** Build a store other than the configured one (tests, PostgreSQL). */
  store?: Store;
  bus?: EventBus;
  rateLimits?: RateLimits;
  /**
   * Trace with OpenTelemetry: requests, store, signing, bus and push get spans (observability/
   * tracing.ts). `serve` sets it when the OTEL_* environment asks for traces and it has started
   * the SDK; tests register an SDK of their own.
   */
  tracing?: boolean;
  /** Metrics other than the configured ones (benchmarks, tests). */
  metrics?: Metrics;
  /** Extra modules beside the default ones (the verification pages, push channels). */
  modules?: (context: AppContext) => ApplianceModule[];
}

/** Opens the configured store: PostgreSQL when a databaseUrl is set, else SQLite in dataDir. */
export async function openStore(config: Config, options: { cacheClients?: boolean } = {}): Promise<Store> {
  if (config.databaseUrl) {
    // Loaded only when configured, so an embedded (SQLite) appliance never loads pg.
    const { createPostgresStore } = await import('./store/postgres/postgres-store.ts');
    return createPostgresStore({ connectionString: config.databaseUrl, cacheClients: options.cacheClients });
  }
  const filename = path.join(config.dataDir, 'devicegate.sqlite');
  protectDataFiles(config.dataDir, filename);
  return createSqliteStore({ filename });
}

/**
 * The data directory holds argon2 hashes, live user codes and the master key file: owner only
 * (docs/security.md DATA-FILES). mkdir's mode applies only to a directory it creates, and SQLite
 * creates its file with the process umask, so an existing directory is tightened to 0700 and the
 * database is created (or tightened) to 0600 before SQLite opens it; SQLite gives its -wal and
 * -shm files the database file's permissions.
 */
export function protectDataFiles(dataDir: string, filename: string): void {
  makeDataDir(dataDir);
  chmodSync(dataDir, 0o700);
  closeSync(openSync(filename, 'a', 0o600));
  chmodSync(filename, 0o600);
  for (const suffix of ['-wal', '-shm']) {
    try {
      chmodSync(`${filename}${suffix}`, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** Creates the data directory, with one line that says what to do when it cannot be. */
function makeDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const setting = 'dataDir (--data-dir, DEVICEGATE_DATA_DIR)';
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new ConfigError(`data directory ${dataDir} is a file, not a directory (or lies under one): point ${setting} at a directory, or move the file away`);
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new ConfigError(`cannot create the data directory ${dataDir} (${code}): give this user write access to its parent, or point ${setting} elsewhere`);
    }
    throw error;
  }
}

function openMasterKey(config: Config): Buffer {
  return config.masterKey ? parseMasterKey(config.masterKey) : loadOrCreateMasterKeyFile(config.dataDir);
}

export function openSealer(config: Config) {
  return createSealer(openMasterKey(config));
}

/** Everything a request needs, wired from the configuration and optional replacements. */
export async function createAppContext(config: Config, deps: ApplianceDependencies = {}): Promise<AppContext> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger(config.logLevel);
  const metrics = deps.metrics ?? (config.metrics.enabled ? createPrometheusMetrics() : noMetrics);
  const openedStore = deps.store ?? (await openStore(config));
  const tracing = deps.tracing ?? false;
  // In process by default; through the external MQTT broker when one is configured (bus/open.ts).
  const openedBus = deps.bus ?? (await openBus(config, logger));
  const bus = tracing ? tracedBus(openedBus) : openedBus;
  // A revoked grant is announced on the bus, so a signed-in device watching it is told at once.
  const announcing = announceRevocations(openedStore, bus, logger);
  const timed = metrics.enabled ? timedStore(announcing, metrics) : announcing;
  const store = tracing ? tracedStore(timed) : timed;
  if (metrics.enabled) {
    // A shared bus marks what another instance published; its `at` is that instance's clock.
    bus.subscribe((event) => {
      if (isRemoteEvent(event)) metrics.busLag((Date.now() - event.at) / 1000);
    });
  }
  const sealer = openSealer(config);
  const webhooks = createWebhookDispatcher({ webhooks: store.webhooks, sealer, config: config.webhooks, logger });
  const signingKeys = createKeyStore({
    signingKeys: store.signingKeys,
    sealer,
    clock,
    alg: config.signingAlg,
    maxSignedLifetime: Math.max(config.accessTokenLifetime, config.idTokenLifetime),
  });
  const keys = tracing ? tracedKeys(signingKeys) : signingKeys;
  const audit = createAuditLog({ logger, clock, events: store.auditEvents, observers: [countAuditEvents(metrics), enqueueWebhookEvents(store.webhooks, () => webhooks.kick())] });
  const limiters = await createConfiguredLimiterFactory(config);
  const rateLimits =
    deps.rateLimits ??
    createRateLimits({
      rules: limitRules(config),
      makeLimiter: limiters.makeLimiter,
      audit,
      close: limiters.close,
      localShare: limiters.shared ? config.limits.localShare : 0,
    });
  const approval = createApprovalService({ store, bus, clock, audit, metrics });
  const expiry = createExpiryScheduler({ store, bus, clock, logger, metrics });
  const userCodeGuessAlarm = createUserCodeGuessAlarm({ makeLimiter: limiters.makeLimiter, rule: config.limits.userCodeGuessAlarm, audit, logger });
  metrics.watchUserCodeAlarm(() => userCodeGuessAlarm.active());
  // In the store: a jti used on one instance is refused on all (PostgreSQL), and one used before a
  // restart is refused after it (both backends; docs/security.md DPOP-PROOF).
  const replayCache = createStoreReplayCache({ identifiers: store.replayIdentifiers, now: () => clock.now() });
  // Keys derived from the master key: every instance sharing it issues and accepts the same values.
  const masterKey = openMasterKey(config).toString('base64url');
  const derivedSecret = (label: string) => Buffer.from(deriveKey(label, masterKey), 'base64url');
  const context: AppContext = {
    config,
    store,
    keys,
    clock,
    bus,
    logger,
    audit,
    rateLimits,
    tokens: createTokenService({ store, keys, clock, config }),
    accessTokens: createAccessTokenVerifier({ store, keys, clock, issuer: config.issuer }),
    authenticateClient: limitClientAuthenticationFailures(
      createClientAuthenticator({
        clients: withClientMetadataDocuments(store.clients, { config, clock }),
        clock,
        verifyAssertion: createClientAssertionVerifier({
          issuer: config.issuer,
          tokenEndpoint: `${config.issuer}${paths.token}`,
          clock,
          replayCache,
          acceptTokenEndpointAudience: config.clientAssertionTokenEndpointAudience,
        }),
      }),
      rateLimits,
    ),
    dpop: createDpopService({
      issuer: config.issuer,
      clock,
      replayCache,
      // Derived from the master key, so every instance sharing it issues and accepts the same nonces.
      nonces: createDpopNonces({
        secret: derivedSecret('dpop-nonce'),
        now: () => clock.now(),
        windowSeconds: config.dpop.nonceWindow,
        required: config.dpop.nonceRequired,
      }),
    }),
    replayCache,
    metrics,
    tracing,
    webhooks,
    authorizeDevice: createDeviceAuthorizer({ store, clock, expiry }),
    approval,
    expiry,
    userCodeEntry: createUserCodeEntry({
      approval,
      rateLimits,
      audit,
      alarm: userCodeGuessAlarm,
      tightenFactor: config.limits.userCodeGuessAlarm.tightenFactor,
    }),
    consentFlows: createConsentFlows({ secret: derivedSecret('consent-flow') }),
    knownBrowsers: createKnownBrowsers({ secret: derivedSecret('known-browser') }),
  };
  return context;
}

export interface Appliance {
  context: AppContext;
  app: FastifyInstance;
  server: Server;
  /** The base URL it listens on (may differ from the issuer behind a proxy). */
  url: string;
  demoPassword?: string;
  /** Whether the demo user exists, so `serve` can say on every start how to reset its password. */
  demoUser: boolean;
  stop(): Promise<void>;
}

/**
 * Starts the whole appliance: store, keys (and the demo client and user on first start), the
 * HTTP app with its modules, the sweeper. Up or down, never half: if any listener fails (HTTP, the
 * embedded broker, any module's), everything already opened is closed again, the demo user made
 * by this start is removed (its password was never shown), and the ListenerError is thrown for
 * `serve` to print. `stop()` drains: readiness goes red, new connections are refused, in-flight
 * requests finish, then modules and the store close.
 */
export async function startAppliance(config: Config, deps: ApplianceDependencies = {}): Promise<Appliance> {
  const context = await createAppContext(config, deps);
  let started = false;
  let draining = false;
  let modules: ApplianceModule[] = [];
  const attempted: ApplianceModule[] = [];
  let app: FastifyInstance | undefined;
  let undoDemo: (() => Promise<void>) | undefined;
  try {
    const bootstrapped = await bootstrap(context);
    undoDemo = bootstrapped.undoDemo;
    modules = deps.modules?.(context) ?? [];
    app = await createApp(context, {
      modules,
      readiness: {
        isDraining: () => draining,
        parts: () => Object.fromEntries(modules.map((module) => [module.name, started && (module.ready?.() ?? true)])),
      },
    });
    try {
      await app.listen({ host: config.host, port: config.port });
    } catch (error) {
      throw new ListenerError({ name: 'HTTP listener', host: config.host, port: config.port, remedy: '--port (port, DEVICEGATE_PORT) or --host (host, DEVICEGATE_HOST)' }, error);
    }
    for (const module of modules) {
      attempted.push(module);
      await module.start?.(app.server);
    }
    started = true;
    const server = app.server;
    const sweeper = createSweeper({ store: context.store, expiry: context.expiry, clock: context.clock, logger: context.logger, retentionSeconds: config.sweepRetention });
    sweeper.start(config.sweepInterval);
    context.webhooks.start();
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const running = app;

    let stopping: Promise<void> | undefined;
    return {
      context,
      app: running,
      server,
      url: `http://${host}:${port}`,
      demoPassword: bootstrapped.demoPassword,
      demoUser: bootstrapped.demoUser,
      stop() {
        stopping ??= (async () => {
          draining = true;
          // /readyz is red from here; keep serving until the proxy has noticed (config.drainDelay).
          if (config.drainDelay > 0) await new Promise((resolve) => setTimeout(resolve, config.drainDelay * 1000));
          await sweeper.stop();
          await closeAll(context, modules, running);
        })();
        return stopping;
      },
    };
  } catch (error) {
    // Nothing stays open after a failed start: a half-started appliance would answer /healthz and
    // hand out device codes that point devices at a broker it does not run.
    try {
      await undoDemo?.();
    } catch (undoError) {
      context.logger.error({ err: undoError }, 'removing the demo user of a failed start failed');
    }
    await closeAll(context, attempted, app).catch((closeError: unknown) => context.logger.error({ err: closeError }, 'closing after a failed start failed'));
    throw error;
  }
}

/** Closes modules (last started first), the HTTP listener, the bus and the store. */
async function closeAll(context: AppContext, modules: ApplianceModule[], app: FastifyInstance | undefined): Promise<void> {
  await context.webhooks.stop();
  await context.expiry.stop();
  for (const module of [...modules].reverse()) {
    try {
      await module.stop?.();
    } catch (error) {
      context.logger.error({ err: error, module: module.name }, 'stopping a module failed');
    }
  }
  await app?.close();
  await context.bus.close();
  await context.audit.flush?.();
  await context.rateLimits.close?.();
  await context.store.close();
}
