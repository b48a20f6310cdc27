import type { Resources } from '../types.ts';
import { toResource, type Database } from './database.ts';

export function createPostgresResources({ pool, one, all, changes }: Database): Resources {
  return {
    async get(resource) {
      const row = await one('SELECT * FROM resources WHERE resource = $1', [resource]);
      return row ? toResource(row) : null;
    },
    async list() {
      return (await all('SELECT * FROM resources ORDER BY resource')).map(toResource);
    },
    async put(resource) {
      await pool.query(
        `INSERT INTO resources (resource, name, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (resource) DO UPDATE SET name = EXCLUDED.name, created_at = EXCLUDED.created_at`,
        [resource.resource, resource.name, resource.createdAt],
      );
    },
    async remove(resource) {
      return (await changes('DELETE FROM resources WHERE resource = $1', [resource])) === 1;
    },
  };
}
