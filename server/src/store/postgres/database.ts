import pg from 'pg';
import { createRowMappers, type Row } from '../rows.ts';

export type { Row } from '../rows.ts';

/** A pool or one of its connections (inside a transaction). */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * Advisory lock namespaces (the two-key form, whose key space is apart from the one-key form's),
 * so the locks of devicegate never meet those of another application on the same database.
 */
export const LOCK_MIGRATIONS = 0x64670001;
/** Serialized device grant creation before migration 17; kept so the key is never given another use. */
export const LOCK_USER_CODE = 0x64670002;
/** Store.exclusive: the second key is hashtext(name). */
export const LOCK_EXCLUSIVE = 0x64670003;

const INT8_OID = 20;

/**
 * Epoch milliseconds live in BIGINT, which pg returns as strings (an int8 may exceed 2^53). Ours
 * never do, so they are parsed back to numbers, and refused loudly if one ever would lose digits.
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`bigint ${text} does not fit a JavaScript number`);
  return value;
}

export const types: pg.CustomTypesConfig = {
  // The parser is set per pool, not on pg's global type table, so nothing else in the process
  // that uses pg is changed.
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** PostgreSQL has text[], boolean and jsonb, which pg returns as arrays, booleans and values (see ../rows.ts). */
export const { toClient, toResource, toUser, toDeviceGrant, toGrant, toRefreshToken, toAccessToken, toSigningKey, toAuditEvent, toSession, toRegisteredDevice, toWebhookEndpoint, toWebhookDelivery,
  toPasskey } =
  createRowMappers({
    list: (value) => (Array.isArray(value) ? (value as string[]) : []),
    bool: (value) => value === true,
    json: <T>(value: unknown) => (value === null || value === undefined ? null : (value as T)),
  });

/** Runs `work` in one transaction on one pooled connection; rolls back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // A connection that cannot even roll back is discarded, not returned to the pool.
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** The pool and the few ways the repositories query it. */
export interface Database {
  pool: pg.Pool;
  /** The first row, or null. */
  one(sql: string, values: unknown[]): Promise<Row | null>;
  all(sql: string, values?: unknown[]): Promise<Row[]>;
  /** How many rows the statement changed. */
  changes(sql: string, values: unknown[]): Promise<number>;
  transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T>;
}

export function createDatabase(pool: pg.Pool): Database {
  return {
    pool,
    one: async (sql, values) => (await pool.query(sql, values)).rows[0] ?? null,
    all: async (sql, values = []) => (await pool.query(sql, values)).rows,
    changes: async (sql, values) => (await pool.query(sql, values)).rowCount ?? 0,
    transaction: (work) => inTransaction(pool, work),
  };
}
