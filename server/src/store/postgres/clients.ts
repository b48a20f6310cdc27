import type { ClientRecord, Clients } from '../types.ts';
import { deepFreeze } from '../frozen.ts';
import { toClient, type Database } from './database.ts';

/** The channel the `clients` table's trigger notifies on (migration 18), with the client id as payload ('*': all). */
export const CLIENTS_CHANNEL = 'devicegate_clients';

/**
 * Registered clients are few and read on every request (authentication, a poll's client), while
 * they change rarely; past this many the cache is emptied (self-registration, RFC 7591, is
 * limited to 10 an hour per address) rather than grow.
 */
const MAX_CACHED_CLIENTS = 10_000;

export interface ClientCache {
  /** Whether a cached record may be served: only while changes are heard (change-listener.ts). */
  listening(): boolean;
}

export interface CachedClients {
  repository: Clients;
  /** A notification: the client changed ('*': any may have). */
  changed(clientId: string): void;
  /** Notifications may have been missed: forget everything. */
  reset(): void;
}


/**
 * The clients table, read through a per-instance cache: a round trip per request for a record
 * that changes a few times a year was a fifth of a device authorization's (docs/performance.md).
 * Every change to the table, by any process (another instance, `devicegate clients update`, SQL),
 * fires the table's trigger, whose NOTIFY each instance hears on its listening connection and
 * drops the entry; while that connection is down nothing is served from the cache. A read that
 * raced a change (it started before the notification arrived) is not kept: `generation` tells.
 * A change is seen by the other instances once its notification arrives, milliseconds after the
 * commit (docs/security.md CLIENT-CACHE).
 */
export function createPostgresClients({ pool, one, all, changes }: Database, cache: ClientCache): CachedClients {
  const cached = new Map<string, ClientRecord>();
  let generation = 0;
  const forget = () => {
    generation++;
    cached.clear();
  };
  const repository: Clients = {
    async get(clientId) {
      if (cache.listening()) {
        const hit = cached.get(clientId);
        if (hit) return hit;
      }
      const before = generation;
      const row = await one('SELECT * FROM clients WHERE client_id = $1', [clientId]);
      if (!row) return null;
      const client = toClient(row);
      if (!cache.listening() || generation !== before) return client;
      if (cached.size >= MAX_CACHED_CLIENTS) cached.clear();
      const frozen = deepFreeze(client);
      cached.set(clientId, frozen);
      return frozen;
    },
    async list() {
      return (await all('SELECT * FROM clients ORDER BY client_id')).map(toClient);
    },
    async put(client) {
      await pool.query(
        `INSERT INTO clients (client_id, name, secret_hash, grant_types, scopes, device_code_lifetime, poll_interval,
           access_token_format, may_introspect, audience, disabled, dpop_required, created_at, jwks, jwks_uri, phishing_controls,
           logo_uri, registration, allowed_origins, approves_devices_of)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash,
           grant_types = EXCLUDED.grant_types, scopes = EXCLUDED.scopes,
           device_code_lifetime = EXCLUDED.device_code_lifetime, poll_interval = EXCLUDED.poll_interval,
           access_token_format = EXCLUDED.access_token_format, may_introspect = EXCLUDED.may_introspect,
           audience = EXCLUDED.audience, disabled = EXCLUDED.disabled, dpop_required = EXCLUDED.dpop_required,
           created_at = EXCLUDED.created_at, jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri,
           phishing_controls = EXCLUDED.phishing_controls, logo_uri = EXCLUDED.logo_uri,
           registration = EXCLUDED.registration, allowed_origins = EXCLUDED.allowed_origins,
           approves_devices_of = EXCLUDED.approves_devices_of`,
        [
          client.clientId,
          client.name,
          client.secretHash,
          client.grantTypes,
          client.scopes,
          client.deviceCodeLifetime,
          client.pollInterval,
          client.accessTokenFormat,
          client.mayIntrospect,
          client.audience,
          client.disabled,
          client.dpopRequired,
          client.createdAt,
          client.jwks ? JSON.stringify(client.jwks) : null,
          client.jwksUri ?? null,
          JSON.stringify(client.phishing),
          client.logoUri ?? null,
          client.registration,
          client.allowedOrigins ?? [],
          client.approvesDevicesOf ?? [],
        ],
      );
    },
    async remove(clientId) {
      return (await changes('DELETE FROM clients WHERE client_id = $1', [clientId])) === 1;
    },
  };
  return {
    repository: {
      ...repository,
      // This instance's own writes are forgotten at once, not only when their notification comes back.
      async put(client) {
        generation++;
        cached.delete(client.clientId);
        await repository.put(client);
        generation++;
        cached.delete(client.clientId);
      },
      async remove(clientId) {
        generation++;
        cached.delete(clientId);
        const removed = await repository.remove(clientId);
        generation++;
        cached.delete(clientId);
        return removed;
      },
    },
    changed(clientId) {
      if (clientId === '*') return forget();
      generation++;
      cached.delete(clientId);
    },
    reset: forget,
  };
}
