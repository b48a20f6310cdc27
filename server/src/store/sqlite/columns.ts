import { createRowMappers } from '../rows.ts';

export type { Row } from '../rows.ts';

/** SQLite has no list type: lists are kept as space-joined text (no item holds a space). */
export const joinList = (values: readonly string[]): string => values.join(' ');

/** Booleans as 0/1 and JSON as text: how SQLite's columns read back (see ../rows.ts). */
export const { toClient, toResource, toUser, toDeviceGrant, toGrant, toRefreshToken, toAccessToken, toSigningKey, toAuditEvent, toSession, toRegisteredDevice, toWebhookEndpoint, toWebhookDelivery,
  toPasskey } =
  createRowMappers({
    list: (value) => (typeof value === 'string' && value !== '' ? value.split(' ') : []),
    bool: (value) => value === 1,
    json: <T>(value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as T) : null),
  });

/** A repository that group-commits (../turn-batch.ts): close() first writes what it holds. */
export interface Batched<Repository> {
  repository: Repository;
  flush(): Promise<void>;
}
