import type Database from 'better-sqlite3';
import type { SigningKeyRecord, SigningKeys } from '../types.ts';
import { toSigningKey, type Row } from './columns.ts';

export function createSqliteSigningKeys(db: Database.Database): SigningKeys {
  const q = {
    list: db.prepare('SELECT * FROM signing_keys ORDER BY created_at'),
    deleteAll: db.prepare('DELETE FROM signing_keys'),
    insert: db.prepare(`INSERT INTO signing_keys (kid, alg, sealed_private_jwk, public_jwk, state, created_at,
      activated_at, retire_after) VALUES (@kid, @alg, @sealedPrivateJwk, @publicJwk, @state, @createdAt, @activatedAt, @retireAfter)`),
  };

  // Rotation is one atomic step: a reader sees the old set or the new one.
  const replaceAll = db.transaction((keys: SigningKeyRecord[]) => {
    q.deleteAll.run();
    for (const key of keys) q.insert.run({ ...key, publicJwk: JSON.stringify(key.publicJwk) });
  });

  return {
    async list() {
      return (q.list.all() as Row[]).map(toSigningKey);
    },
    async replaceAll(keys) {
      replaceAll(keys);
    },
  };
}
