import type Database from 'better-sqlite3';
import type { Resources } from '../types.ts';
import { toResource, type Row } from './columns.ts';

export function createSqliteResources(db: Database.Database): Resources {
  const q = {
    get: db.prepare('SELECT * FROM resources WHERE resource = ?'),
    list: db.prepare('SELECT * FROM resources ORDER BY resource'),
    put: db.prepare('INSERT OR REPLACE INTO resources (resource, name, created_at) VALUES (@resource, @name, @createdAt)'),
    remove: db.prepare('DELETE FROM resources WHERE resource = ?'),
  };
  return {
    async get(resource) {
      const row = q.get.get(resource) as Row | undefined;
      return row ? toResource(row) : null;
    },
    async list() {
      return (q.list.all() as Row[]).map(toResource);
    },
    async put(resource) {
      q.put.run(resource);
    },
    async remove(resource) {
      return q.remove.run(resource).changes === 1;
    },
  };
}
