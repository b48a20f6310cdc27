import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { ConfigError, limitsSchema, type Config } from '../config.ts';
import { deriveKey } from '../secrets.ts';
import type { AuditFields, AuditLog } from './audit.ts';
import { limitKeyOfAddress } from './network-match.ts';

/**
 * Abuse limits, one named bucket per concern, on `rate-limiter-flexible` (maintained; counters in
 * memory for one instance, in PostgreSQL when several instances must share them). The rules and
 * the reason for each default live in config.ts (`limits`).
 */
export type LimitsConfig = Config['limits'];
export type LimitName = Exclude<keyof LimitsConfig, 'store' | 'userCodeGuessAlarm' | 'localShare'>;

export interface LimitRule {
  points: number;
  /** Window in seconds. */
  duration: number;
}

/** The defaults of config.ts, for callers that build limits without a configuration. */
const defaultLimitRules: Record<LimitName, LimitRule> = (() => {
  const { store: _store, userCodeGuessAlarm: _alarm, localShare: _share, ...rules } = limitsSchema.parse({});
  return rules;
})();

/**
 * Keys of these buckets are a browser session id or what someone typed as a username: they go
 * into the audit record only as a one-way digest (enough to see repeats, nothing to reuse).
 */
const DIGESTED_KEYS: ReadonlySet<LimitName> = new Set(['userCodeEntryPerSession', 'signInPerAccount']);

/**
 * Buckets keyed on a network address (the whole key), and those keyed `client_id address`. Their
 * address is counted by network here (an IPv6 /64, an IPv4 /32: network-match.ts), so no caller
 * can forget to (docs/security.md LIMIT-BY-NETWORK).
 */
const ADDRESS_KEYS: ReadonlySet<LimitName> = new Set([
  'tokenPerAddress',
  'userinfoPerAddress',
  'metadataPerAddress',
  'clientAuthenticationFailuresPerAddress',
  'userCodeEntryPerAddress',
  'signInPerAddress',
]);
const CLIENT_AND_ADDRESS_KEYS: ReadonlySet<LimitName> = new Set(['deviceAuthorizationPerClientAndAddress', 'revocationPerClientAndAddress']);

function bucketKey(name: LimitName, key: string): string {
  if (ADDRESS_KEYS.has(name)) return limitKeyOfAddress(key);
  if (CLIENT_AND_ADDRESS_KEYS.has(name)) {
    const space = key.lastIndexOf(' ');
    if (space >= 0) return `${key.slice(0, space)} ${limitKeyOfAddress(key.slice(space + 1))}`;
  }
  return key;
}

export interface LimitVerdict {
  allowed: boolean;
  retryAfterSeconds: number;
}

export interface ConsumeOptions {
  /** Points this request costs (default 1); the guess alarm raises it while it lasts. */
  cost?: number;
  /** Extra audit fields for a refusal (client id, path); never a secret. */
  fields?: AuditFields;
}

export interface RateLimits {
  /**
   * Spends points; `allowed: false` once the bucket is empty. The first refusal of a key in a
   * window is recorded as an audit event `rate_limited` (one per window, so a flood cannot
   * flood the audit log too).
   */
  consume(name: LimitName, key: string, options?: ConsumeOptions): Promise<LimitVerdict>;
  /** Reads a bucket without spending: `allowed: false` while it is empty. */
  peek(name: LimitName, key: string): Promise<LimitVerdict>;
  /** Forgets a key (e.g. after a successful sign-in). */
  reset(name: LimitName, key: string): Promise<void>;
  /** Releases what the counters hold (a PostgreSQL pool). */
  close?(): Promise<void>;
}

/** Makes one limiter: the seam where a shared store (PostgreSQL, Redis) plugs in. */
export type LimiterFactory = (bucket: { name: string; points: number; duration: number }) => RateLimiterAbstract;

const memoryLimiterFactory: LimiterFactory = ({ name, points, duration }) =>
  new RateLimiterMemory({ keyPrefix: name, points, duration });

/** The table rate-limiter-flexible keeps its PostgreSQL counters in. */
const POSTGRES_LIMITS_TABLE = 'devicegate_rate_limits';

/** What a pg.Pool offers that RateLimiterPostgres and the table creation need. */
export interface PostgresQueryable {
  query(text: string): Promise<unknown>;
}

/**
 * Advisory lock key of the table creation, beside the store's namespaces (0x64670001-3 in
 * store/postgres/postgres-store.ts).
 */
const LOCK_LIMITS_TABLE = 0x64670004;

/**
 * Counters in PostgreSQL, shared by every instance on the same database (threat 18 in
 * docs/security.md). The table is created once here rather than by each limiter. PostgreSQL does not serialize
 * concurrent CREATE TABLE IF NOT EXISTS (instances started at once fail with 23505 or 42710), so
 * the creation runs under a transaction-scoped advisory lock: the two statements of one simple
 * query are one implicit transaction, which ends (and unlocks) with the query, also on error. If
 * the database stops answering later, each instance falls back to its own memory counters (the
 * insurance limiter) instead of failing every request.
 */
export async function createPostgresLimiterFactory(pool: PostgresQueryable): Promise<LimiterFactory> {
  await pool.query(`SELECT pg_advisory_xact_lock(${LOCK_LIMITS_TABLE}, 0);
    CREATE TABLE IF NOT EXISTS "${POSTGRES_LIMITS_TABLE}" (
    key varchar(255) PRIMARY KEY, points integer NOT NULL DEFAULT 0, expire bigint)`);
  return ({ name, points, duration }) =>
    new RateLimiterPostgres({
      storeClient: pool,
      storeType: 'pool',
      tableName: POSTGRES_LIMITS_TABLE,
      tableCreated: true,
      keyPrefix: name,
      points,
      duration,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration }),
    });
}

/** True for a limiter's refusal, as opposed to a store failure. */
const isRefusal = (value: unknown): value is RateLimiterRes => value instanceof RateLimiterRes;

/**
 * Flood limits, where a few requests more across instances cost nothing (each is paced or cheap
 * for us), unlike the guessing limits (user codes, passwords, client secrets) and registration,
 * which are counted exactly. Only these get a local share (config `limits.localShare`).
 */
const LOCAL_SHARE_BUCKETS: ReadonlySet<LimitName> = new Set([
  'deviceAuthorizationPerClientAndAddress',
  'tokenPerAddress',
  'revocationPerClientAndAddress',
  'introspectionPerClient',
  'userinfoPerAddress',
  'metadataPerAddress',
]);

interface Bucket {
  limiter: RateLimiterAbstract;
  rule: LimitRule;
  /** What this instance admits from memory before it asks `limiter` (shared counters only). */
  local?: RateLimiterMemory;
  allowance: number;
}

export function createRateLimits(
  options: {
    rules?: Partial<Record<LimitName, LimitRule>>;
    makeLimiter?: LimiterFactory;
    audit?: AuditLog;
    close?: () => Promise<void>;
    /**
     * With shared counters (makeLimiter a shared store), the share of each flood limit this
     * instance admits from memory first (config `limits.localShare`; docs/security.md
     * LIMIT-SHARED). 0 or unset: every request asks `makeLimiter`'s counter.
     */
    localShare?: number;
  } = {},
): RateLimits {
  const makeLimiter = options.makeLimiter ?? memoryLimiterFactory;
  const limiters = new Map<LimitName, Bucket>();
  const bucket = (name: LimitName): Bucket => {
    let found = limiters.get(name);
    if (!found) {
      const rule = { ...defaultLimitRules[name], ...options.rules?.[name] };
      const allowance = LOCAL_SHARE_BUCKETS.has(name) ? Math.floor(rule.points * (options.localShare ?? 0)) : 0;
      found = {
        limiter: makeLimiter({ name, ...rule }),
        rule,
        allowance,
        local: allowance > 0 ? new RateLimiterMemory({ keyPrefix: `local:${name}`, points: allowance, duration: rule.duration }) : undefined,
      };
      limiters.set(name, found);
    }
    return found;
  };

  /**
   * The local share, in front of the shared counter: up to `allowance` points of a key per
   * window are admitted from this instance's memory. The request that finds them spent asks the
   * shared counter and carries them there, so the shared count includes them; from then until
   * the shared window ends the key is blocked locally, so every request asks the shared
   * counter, and one instance alone never admits more than `points` in a shared window.
   * Returns the points to spend on the shared counter, or 0 when admitted locally.
   */
  async function localFirst(found: Bucket, key: string, cost: number): Promise<number> {
    if (!found.local) return cost;
    try {
      await found.local.consume(key, cost);
      return 0;
    } catch (rejection) {
      if (!isRefusal(rejection)) throw rejection;
      const before = rejection.consumedPoints - cost;
      // The first request past the allowance carries what was admitted locally; later ones (the
      // key blocked until the shared window ends) carry nothing.
      return before <= found.allowance ? cost + before : cost;
    }
  }

  return {
    async consume(name, given, consumeOptions = {}) {
      const key = bucketKey(name, given);
      const cost = Math.max(1, Math.floor(consumeOptions.cost ?? 1));
      const found = bucket(name);
      const { limiter, rule } = found;
      const spend = await localFirst(found, key, cost);
      if (spend === 0) return { allowed: true, retryAfterSeconds: 0 };
      try {
        const counted = await limiter.consume(key, spend);
        if (found.local) await found.local.block(key, Math.max(1, Math.ceil(counted.msBeforeNext / 1000)));
        return { allowed: true, retryAfterSeconds: 0 };
      } catch (rejection) {
        if (!isRefusal(rejection)) throw rejection;
        const retryAfterSeconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        if (found.local) await found.local.block(key, retryAfterSeconds);
        // Only the request that tipped the bucket over is recorded, not every one after it.
        if (rejection.consumedPoints - spend <= rule.points) {
          options.audit?.record('rate_limited', {
            limit: name,
            key: DIGESTED_KEYS.has(name) ? deriveKey('audit-limit-key', key).slice(0, 16) : key,
            retryAfter: retryAfterSeconds,
            ...consumeOptions.fields,
          });
        }
        return { allowed: false, retryAfterSeconds };
      }
    },
    async peek(name, key) {
      const { limiter, rule } = bucket(name);
      const state = await limiter.get(bucketKey(name, key));
      if (!state || state.consumedPoints < rule.points) return { allowed: true, retryAfterSeconds: 0 };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(state.msBeforeNext / 1000)) };
    },
    async reset(name, key) {
      const found = bucket(name);
      await Promise.all([found.limiter.delete(bucketKey(name, key)), found.local?.delete(bucketKey(name, key))]);
    },
    close: options.close,
  };
}

/**
 * The limiter factory the configuration asks for: PostgreSQL counters when `limits.store` says
 * so (or 'auto' with a databaseUrl), memory otherwise. `pg` is loaded only then. The rate limits
 * and the user code guess alarm both build on it, so both are shared across instances alike.
 */
export async function createConfiguredLimiterFactory(
  config: Config,
): Promise<{ makeLimiter: LimiterFactory; close(): Promise<void>; /** Counters other instances share. */ shared: boolean }> {
  const where = config.limits.store;
  const shared = where === 'postgres' || (where === 'auto' && config.databaseUrl !== undefined);
  if (!shared) return { makeLimiter: memoryLimiterFactory, close: async () => {}, shared: false };
  if (!config.databaseUrl) throw new ConfigError('limits.store "postgres" needs a databaseUrl');
  const { default: pg } = await import('pg');
  // A small pool of its own: counters must not queue behind the store's transactions.
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
  pool.on('error', () => {}); // an idle client's error; the next query reports it
  try {
    return { makeLimiter: await createPostgresLimiterFactory(pool), close: () => pool.end(), shared: true };
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** The configured rules as createRateLimits takes them. */
export function limitRules(config: Config): Record<LimitName, LimitRule> {
  const { store: _store, userCodeGuessAlarm: _alarm, localShare: _share, ...rules } = config.limits;
  return rules;
}
