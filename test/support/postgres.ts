// A real, throwaway PostgreSQL server per test file: initdb into a fresh temp dir, serve on a free
// loopback port, trust auth. One server per file and createDatabase() per test keeps them apart.
import { execFile, execFileSync } from 'node:child_process';
import { chown, mkdtemp } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { removeDir, startDaemon, waitUntilReady, type Daemon } from './daemon.ts';
import { freePort } from './ports.ts';

const execFileAsync = promisify(execFile);

/** The bootstrap superuser; trust auth on loopback, so the URL has no password. */
const ROLE = 'devicegate';

/** The server binaries: DEVICEGATE_PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin. */
function postgresBinDir(): string | undefined {
  const fromEnv = process.env.DEVICEGATE_PG_BIN;
  if (fromEnv) return fromEnv;
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(base, name, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(base, versions[0], 'bin') : undefined;
}

export function postgresAvailable(): boolean {
  const bin = postgresBinDir();
  return bin !== undefined && ['initdb', 'postgres', 'pg_isready'].every((tool) => existsSync(join(bin, tool)));
}

export interface PostgresOptions {
  /** The database the returned url names; created at start. */
  database?: string;
  /** How long to wait for the server to accept connections. */
  startTimeoutMs?: number;
  /** PostgreSQL's max_connections (default 50); several appliance instances each hold a pool. */
  maxConnections?: number;
}

export interface Postgres {
  /** postgres://devicegate@127.0.0.1:PORT/DATABASE */
  url: string;
  port: number;
  dir: string;
  /** The server's log so far (stderr). */
  logs(): string;
  /** Fast shutdown (ends sessions, no waiting for clients), then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Another test may grab the port between freePort() and the bind: try a few ports. */
const PORT_ATTEMPTS = 3;

export async function startPostgres(options: PostgresOptions = {}): Promise<Postgres> {
  const bin = postgresBinDir();
  if (!bin || !postgresAvailable()) {
    throw new Error('PostgreSQL server binaries not found: run `bash scripts/install-test-deps.sh`');
  }
  const database = options.database ?? 'devicegate';
  const dir = await mkdtemp(join(tmpdir(), 'devicegate-postgres-'));
  try {
    const owner = serverUser();
    if (owner) await chown(dir, owner.uid, owner.gid);
    // HOME and cwd inside the temp dir: the postgres user cannot enter root's home or our cwd.
    const env = { ...process.env, HOME: dir, LC_ALL: 'C', PGTZ: 'UTC' };
    const dataDir = join(dir, 'data');

    await execFileAsync(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', ROLE, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      { cwd: dir, env, uid: owner?.uid, gid: owner?.gid, timeout: 60_000 },
    ).catch((error: Error & { stderr?: string }) => {
      throw new Error(`initdb failed: ${error.message}\n${error.stderr ?? ''}`);
    });

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const daemon = startDaemon(
        join(bin, 'postgres'),
        [
          '-D', dataDir,
          '-p', String(port),
          '-h', '127.0.0.1',
          '-k', dir, // unix socket in the temp dir, not /var/run/postgresql (which may not exist)
          // Durability is worthless for a server that is deleted after the test; speed is not.
          '-c', 'fsync=off',
          '-c', 'synchronous_commit=off',
          '-c', 'full_page_writes=off',
          '-c', `max_connections=${options.maxConnections ?? 50}`,
          '-c', 'shared_buffers=32MB',
        ],
        // SIGQUIT at process exit is an immediate shutdown: the postmaster also ends its backends,
        // which a SIGKILL would leave behind.
        { name: 'postgres', cwd: dir, env, uid: owner?.uid, gid: owner?.gid, exitSignal: 'SIGQUIT', dir },
      );
      try {
        await waitUntilReady(daemon, () => isReady(bin, port, env), {
          timeoutMs: options.startTimeoutMs ?? 30_000,
          what: `accepting connections on 127.0.0.1:${port}`,
        });
      } catch (error) {
        await daemon.stop('SIGQUIT', 5000);
        const portTaken = error instanceof Error && /Address already in use|could not bind/i.test(error.message);
        if (portTaken && attempt < PORT_ATTEMPTS) continue;
        throw error;
      }
      return await serve(daemon, dir, port, database);
    }
  } catch (error) {
    removeDir(dir);
    throw error;
  }
}

async function serve(daemon: Daemon, dir: string, port: number, database: string): Promise<Postgres> {
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    // SIGINT is PostgreSQL's fast shutdown.
    stopped ??= daemon.stop('SIGINT', 10_000).then(() => removeDir(dir));
    return stopped;
  };
  try {
    const url = await createDatabase(`postgres://${ROLE}@127.0.0.1:${port}/postgres`, database);
    return { url, port, dir, logs: () => daemon.output(), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Creates database `name` on the server that url points at, and returns url with its database
 * replaced by name: one database per test keeps tests in one file apart on a shared server.
 */
export async function createDatabase(url: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const target = new URL(url);
  target.pathname = `/${encodeURIComponent(name)}`;
  return target.toString();
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** pg_isready exits 0 once the server accepts connections (1: starting up, 2: no response). */
async function isReady(bin: string, port: number, env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    await execFileAsync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', ROLE, '-d', 'postgres', '-t', '2'], {
      env,
      timeout: 5000,
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * PostgreSQL refuses to run as root. As root, run it as the `postgres` system user (Debian's
 * package creates it), else `nobody`; as anyone else, as ourselves.
 */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      if (Number.isInteger(uid) && Number.isInteger(gid) && uid !== 0) return { uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error('running as root, but there is no postgres (or nobody) user to run PostgreSQL as');
}
