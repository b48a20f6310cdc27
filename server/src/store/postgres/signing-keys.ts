import type { SigningKeys } from '../types.ts';
import { toSigningKey, type Database } from './database.ts';

export function createPostgresSigningKeys({ all, transaction }: Database): SigningKeys {
  return {
    async list() {
      return (await all('SELECT * FROM signing_keys ORDER BY created_at')).map(toSigningKey);
    },
    async replaceAll(keys) {
      // Rotation is one atomic step: other instances see the old set or the new one.
      await transaction(async (client) => {
        await client.query('DELETE FROM signing_keys');
        for (const key of keys) {
          await client.query(
            `INSERT INTO signing_keys (kid, alg, sealed_private_jwk, public_jwk, state, created_at, activated_at,
               retire_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [key.kid, key.alg, key.sealedPrivateJwk, JSON.stringify(key.publicJwk), key.state, key.createdAt, key.activatedAt, key.retireAfter],
          );
        }
      });
    },
  };
}
