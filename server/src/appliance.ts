import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createApp } from './app.ts';
import { openBus } from './bus/open.ts';
import type { EventBus } from './bus/types.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config.ts';
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
import type { ApplianceModule } from './modules.ts';
import { createApprovalService, createDeviceAuthorizer, createExpiryScheduler } from './device-grants/index.ts';
import { limitClientAuthenticationFailures } from './services/abuse-limits.ts';
import { createAuditLog } from './services/audit.ts';
import { createConsentFlows } from './services/consent-flows.ts';
import { createKnownBrowsers } from './services/known-browsers.ts';
import { bootstrap } from './services/bootstrap.ts';
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
  /** Extra modules beside the default ones (the verification pages, push channels). */
  modules?: (context: AppContext) => ApplianceModule[];
}

/** Opens the configured store: PostgreSQL when a databaseUrl is set, else SQLite in dataDir. */
export async function openStore(config: Config): Promise<Store> {
  if (config.databaseUrl) {
    // Loaded only when configured, so an embedded (SQLite) appliance never loads pg.
    const { createPostgresStore } = await import('./store/postgres/postgres-store.ts');
    return createPostgresStore({ connectionString: config.databaseUrl });
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
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
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
  const store = deps.store ?? (await openStore(config));
  // In process by default; through the external MQTT broker when one is configured (bus/open.ts).
  const bus = deps.bus ?? (await openBus(config, logger));
  const keys = createKeyStore({
    signingKeys: store.signingKeys,
    sealer: openSealer(config),
    clock,
    alg: config.signingAlg,
    maxSignedLifetime: Math.max(config.accessTokenLifetime, config.idTokenLifetime),
  });
  const audit = createAuditLog({ logger, clock, events: store.auditEvents });
  const limiters = await createConfiguredLimiterFactory(config);
  const rateLimits = deps.rateLimits ?? createRateLimits({ rules: limitRules(config), makeLimiter: limiters.makeLimiter, audit, close: limiters.close });
  const approval = createApprovalService({ store, bus, clock, audit });
  const expiry = createExpiryScheduler({ store, bus, clock, logger });
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
    authorizeDevice: createDeviceAuthorizer({ store, clock, expiry }),
    approval,
    expiry,
    userCodeEntry: createUserCodeEntry({
      approval,
      rateLimits,
      audit,
      alarm: createUserCodeGuessAlarm({ makeLimiter: limiters.makeLimiter, rule: config.limits.userCodeGuessAlarm, audit, logger }),
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
  stop(): Promise<void>;
}

/**
 * Starts the whole appliance: store, keys (and the demo client and user on first start), the
 * HTTP app with its modules, the sweeper. `stop()` drains: readiness goes red, new connections
 * are refused, in-flight requests finish, then modules and the store close.
 */
export async function startAppliance(config: Config, deps: ApplianceDependencies = {}): Promise<Appliance> {
  const context = await createAppContext(config, deps);
  const { demoPassword } = await bootstrap(context);
  const modules = deps.modules?.(context) ?? [];
  let draining = false;
  const app = await createApp(context, { modules, isDraining: () => draining });
  await app.listen({ host: config.host, port: config.port });
  const server = app.server;
  for (const module of modules) await module.start?.(server);
  const sweeper = createSweeper({ store: context.store, expiry: context.expiry, clock: context.clock, logger: context.logger, retentionSeconds: config.sweepRetention });
  sweeper.start(config.sweepInterval);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  let stopping: Promise<void> | undefined;
  return {
    context,
    app,
    server,
    url: `http://${host}:${port}`,
    demoPassword,
    stop() {
      stopping ??= (async () => {
        draining = true;
        // /readyz is red from here; keep serving until the proxy has noticed (config.drainDelay).
        if (config.drainDelay > 0) await new Promise((resolve) => setTimeout(resolve, config.drainDelay * 1000));
        await sweeper.stop();
        await context.expiry.stop();
        for (const module of [...modules].reverse()) await module.stop?.();
        await app.close();
        await context.bus.close();
        await context.audit.flush?.();
        await context.rateLimits.close?.();
        await context.store.close();
      })();
      return stopping;
    },
  };
}
