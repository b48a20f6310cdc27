// Store invariants read straight from the SQLite file (read-only), after a fuzz run or a series of
// crashes: the guarantees the store's conditional updates promise, checked on the data itself.
import path from 'node:path';
import Database from 'better-sqlite3';

export interface InvariantReport {
  /** Token families that two device codes claim (a code redeemed into two families, or two codes into one). */
  sharedFamilies: unknown[];
  /** Device grants marked redeemed without the family they produced. */
  redeemedWithoutFamily: number;
  /** Families no device code names: a code redeemed into a second family would leave one. */
  orphanFamilies: number;
  /** Live families with more than one live refresh token: a refresh token with two successors. */
  forks: unknown[];
  /** Refresh and access tokens still live although their grant is revoked. */
  liveRefreshOfRevoked: number;
  liveAccessOfRevoked: number;
  revokedGrants: number;
}

export function readInvariants(dataDir: string): InvariantReport {
  const db = new Database(path.join(dataDir, 'devicegate.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    return {
      sharedFamilies: db.prepare('SELECT grant_id FROM device_grants WHERE grant_id IS NOT NULL GROUP BY grant_id HAVING count(*) > 1').all(),
      redeemedWithoutFamily: count("SELECT count(*) AS n FROM device_grants WHERE status = 'redeemed' AND grant_id IS NULL"),
      orphanFamilies: count('SELECT count(*) AS n FROM grants WHERE id NOT IN (SELECT grant_id FROM device_grants WHERE grant_id IS NOT NULL)'),
      forks: db
        .prepare(`SELECT r.grant_id, count(*) AS heads FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
          WHERE r.rotated_at IS NULL AND r.revoked_at IS NULL AND g.revoked_at IS NULL GROUP BY r.grant_id HAVING count(*) > 1`)
        .all(),
      liveRefreshOfRevoked: count('SELECT count(*) AS n FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE g.revoked_at IS NOT NULL AND r.revoked_at IS NULL'),
      liveAccessOfRevoked: count('SELECT count(*) AS n FROM access_tokens a JOIN grants g ON g.id = a.grant_id WHERE g.revoked_at IS NOT NULL AND a.revoked_at IS NULL'),
      revokedGrants: count('SELECT count(*) AS n FROM grants WHERE revoked_at IS NOT NULL'),
    };
  } finally {
    db.close();
  }
}

/** Status of the device grant of a device code, read by its hash as the store keeps it. */
export function deviceGrantsByCodeHash(dataDir: string): Map<string, { id: string; status: string; grantId: string | null }> {
  const db = new Database(path.join(dataDir, 'devicegate.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT id, device_code_hash, status, grant_id FROM device_grants').all() as { id: string; device_code_hash: string; status: string; grant_id: string | null }[];
    return new Map(rows.map((row) => [row.device_code_hash, { id: row.id, status: row.status, grantId: row.grant_id }]));
  } finally {
    db.close();
  }
}

export function auditEventsOf(dataDir: string, event: string): { fields: Record<string, unknown> }[] {
  const db = new Database(path.join(dataDir, 'devicegate.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT fields FROM audit_events WHERE event = ?').all(event) as { fields: string }[]).map((row) => ({ fields: JSON.parse(row.fields) }));
  } finally {
    db.close();
  }
}
