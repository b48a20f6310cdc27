import type { RegisteredDevices } from '../types.ts';
import { toRegisteredDevice, type Database } from './database.ts';

export function createPostgresRegisteredDevices({ one, all, changes }: Database): RegisteredDevices {
  return {
    async enroll(device) {
      return (
        (await changes(
          `INSERT INTO registered_devices (id, client_id, jkt, name, created_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (client_id, jkt) DO NOTHING`,
          [device.id, device.clientId, device.jkt, device.name, device.createdAt],
        )) === 1
      );
    },
    async find(clientId, jkt) {
      const row = await one('SELECT * FROM registered_devices WHERE client_id = $1 AND jkt = $2', [clientId, jkt]);
      return row ? toRegisteredDevice(row) : null;
    },
    async list(clientId) {
      const rows =
        clientId === undefined
          ? await all('SELECT * FROM registered_devices ORDER BY client_id, created_at')
          : await all('SELECT * FROM registered_devices WHERE client_id = $1 ORDER BY created_at', [clientId]);
      return rows.map(toRegisteredDevice);
    },
    async remove(id) {
      return (await changes('DELETE FROM registered_devices WHERE id = $1', [id])) === 1;
    },
  };
}
