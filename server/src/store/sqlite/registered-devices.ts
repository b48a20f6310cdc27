import type Database from 'better-sqlite3';
import type { RegisteredDevices } from '../types.ts';
import { toRegisteredDevice, type Row } from './columns.ts';

export function createSqliteRegisteredDevices(db: Database.Database): RegisteredDevices {
  const q = {
    enroll: db.prepare(`INSERT INTO registered_devices (id, client_id, jkt, name, created_at)
      VALUES (@id, @clientId, @jkt, @name, @createdAt) ON CONFLICT (client_id, jkt) DO NOTHING`),
    find: db.prepare('SELECT * FROM registered_devices WHERE client_id = ? AND jkt = ?'),
    listAll: db.prepare('SELECT * FROM registered_devices ORDER BY client_id, created_at'),
    listClient: db.prepare('SELECT * FROM registered_devices WHERE client_id = ? ORDER BY created_at'),
    remove: db.prepare('DELETE FROM registered_devices WHERE id = ?'),
  };
  return {
    async enroll(device) {
      return q.enroll.run(device).changes === 1;
    },
    async find(clientId, jkt) {
      const row = q.find.get(clientId, jkt) as Row | undefined;
      return row ? toRegisteredDevice(row) : null;
    },
    async list(clientId) {
      return ((clientId === undefined ? q.listAll.all() : q.listClient.all(clientId)) as Row[]).map(toRegisteredDevice);
    },
    async remove(id) {
      return q.remove.run(id).changes === 1;
    },
  };
}
