import type { Clients } from '../types.ts';
import { toClient, type Database } from './database.ts';

export function createPostgresClients({ pool, one, all, changes }: Database): Clients {
  return {
    async get(clientId) {
      const row = await one('SELECT * FROM clients WHERE client_id = $1', [clientId]);
      return row ? toClient(row) : null;
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
}
