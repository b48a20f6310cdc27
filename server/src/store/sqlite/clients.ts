import type Database from 'better-sqlite3';
import type { ClientRecord, Clients } from '../types.ts';
import { deepFreeze } from '../frozen.ts';
import { joinList, toClient, type Row } from './columns.ts';


const CLIENT_CACHE_MAX = 10_000;
const CLIENT_CACHE_RECHECK_MS = 1;

export function createSqliteClients(db: Database.Database): Clients {
  const q = {
    get: db.prepare('SELECT * FROM clients WHERE client_id = ?'),
    list: db.prepare('SELECT * FROM clients ORDER BY client_id'),
    put: db.prepare(`INSERT OR REPLACE INTO clients (client_id, name, secret_hash, grant_types, scopes,
      device_code_lifetime, poll_interval, access_token_format, may_introspect, audience, disabled, dpop_required, jwks, jwks_uri, phishing_controls, logo_uri,
      registration, allowed_origins, approves_devices_of, created_at)
      VALUES (@clientId, @name, @secretHash, @grantTypes, @scopes, @deviceCodeLifetime, @pollInterval,
      @accessTokenFormat, @mayIntrospect, @audience, @disabled, @dpopRequired, @jwks, @jwksUri, @phishing, @logoUri, @registration, @allowedOrigins,
      @approvesDevicesOf, @createdAt)`),
    remove: db.prepare('DELETE FROM clients WHERE client_id = ?'),
    dataVersion: db.prepare('PRAGMA data_version').pluck(),
  };

  // Every request looks its client up, and a read right after a busy turn's commits cost about
  // 12 µs, a tenth of a poll (measured with bench/). So clients are cached here, frozen, and
  // dropped when this store changes one or when any other connection has committed (the CLI
  // beside the server: PRAGMA data_version moves then). That check is itself a read (~4-12 µs),
  // so it runs at most once a millisecond: a client blocked from the CLI is refused by every
  // request that starts a millisecond after the CLI's commit. Unknown ids are cached too (as
  // null), bounded.
  const cache = new Map<string, ClientRecord | null>();
  let cacheVersion: unknown;
  let cacheCheckedAt = -Infinity;

  return {
    async get(clientId) {
      const checkedAt = performance.now();
      if (checkedAt - cacheCheckedAt >= CLIENT_CACHE_RECHECK_MS) {
        cacheCheckedAt = checkedAt;
        const version = q.dataVersion.get();
        if (version !== cacheVersion) {
          cache.clear();
          cacheVersion = version;
        }
      }
      let client = cache.get(clientId);
      if (client === undefined) {
        const row = q.get.get(clientId) as Row | undefined;
        client = row ? deepFreeze(toClient(row)) : null;
        if (cache.size >= CLIENT_CACHE_MAX) cache.clear();
        cache.set(clientId, client);
      }
      return client;
    },
    async list() {
      return (q.list.all() as Row[]).map(toClient);
    },
    async put(client) {
      cache.delete(client.clientId);
      q.put.run({
        ...client,
        grantTypes: joinList(client.grantTypes),
        scopes: joinList(client.scopes),
        mayIntrospect: client.mayIntrospect ? 1 : 0,
        disabled: client.disabled ? 1 : 0,
        dpopRequired: client.dpopRequired ? 1 : 0,
        jwks: client.jwks ? JSON.stringify(client.jwks) : null,
        jwksUri: client.jwksUri ?? null,
        phishing: JSON.stringify(client.phishing),
        logoUri: client.logoUri ?? null,
        allowedOrigins: joinList(client.allowedOrigins ?? []),
        approvesDevicesOf: joinList(client.approvesDevicesOf ?? []),
      });
    },
    async remove(clientId) {
      cache.delete(clientId);
      return q.remove.run(clientId).changes === 1;
    },
  };
}
