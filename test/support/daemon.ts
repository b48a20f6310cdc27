// Shared plumbing for the real servers tests start (mosquitto, postgres): spawn, keep the tail of
// their output for error messages, wait (bounded) until they serve, stop them, and clean up after
// a test file that forgot to or crashed.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Output kept per daemon: enough for a useful error message, bounded for chatty servers. */
const OUTPUT_LIMIT = 64 * 1024;

export interface DaemonOptions {
  /** Shown in errors: "mosquitto", "postgres". */
  name: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this user (root only): postgres refuses to run as root. */
  uid?: number;
  gid?: number;
  /** Sent at process exit when the daemon is still running (it gets no chance to shut down). */
  exitSignal?: NodeJS.Signals;
  /** Removed at process exit too, after the daemon was signalled. */
  dir?: string;
}

export interface Daemon {
  readonly name: string;
  readonly pid: number | undefined;
  /** The last OUTPUT_LIMIT characters of stdout and stderr, interleaved. */
  output(): string;
  /** Settles once the process ended and its output was read to the end. */
  readonly closed: Promise<void>;
  /** Exit code or signal once the process ended, else undefined. */
  exitStatus(): string | undefined;
  /** Sends signal, waits up to timeoutMs for the exit, then SIGKILLs. Safe to call twice. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<void>;
}

// Daemons and temp dirs still alive, for the process-exit hook. Synchronous work only there.
const live = new Set<{ child: ChildProcess; exitSignal: NodeJS.Signals; dir?: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const entry of live) {
      if (entry.child.exitCode === null && entry.child.signalCode === null) {
        entry.child.kill(entry.exitSignal);
      }
      if (entry.dir) removeDir(entry.dir);
    }
  });
}

export function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // A daemon still writing into it at process exit; the OS temp dir is cleaned eventually.
  }
}

export function startDaemon(command: string, args: string[], options: DaemonOptions): Daemon {
  installExitHook();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    uid: options.uid,
    gid: options.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  child.on('error', (error) => {
    spawnError = error;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));

  // A test that forgets stop() must not hang its file until the runner's timeout: the daemon does
  // not keep the event loop alive, and the exit hook ends it.
  child.unref();
  (child.stdout as { unref?: () => void } | null)?.unref?.();
  (child.stderr as { unref?: () => void } | null)?.unref?.();

  const entry = { child, exitSignal: options.exitSignal ?? 'SIGKILL', dir: options.dir };
  live.add(entry);
  child.once('close', () => {
    if (!entry.dir) live.delete(entry);
  });

  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null || spawnError !== undefined;

  return {
    name: options.name,
    pid: child.pid,
    closed: exited,
    output: () => output,
    exitStatus() {
      if (spawnError) return `failed to start: ${spawnError.message}`;
      if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
      if (child.signalCode !== null) return `killed by ${child.signalCode}`;
      return undefined;
    },
    async stop(signal, timeoutMs) {
      if (!hasExited() && child.pid !== undefined) {
        child.kill(signal);
        // The grace timer is cancelled once the process is gone, else it would hold the test
        // file open for the rest of the grace period.
        const cancel = new AbortController();
        const timer = sleep(timeoutMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'exited' as const);
        const outcome = await Promise.race([exited.then(() => 'exited' as const), timer]);
        cancel.abort();
        if (outcome === 'timeout') {
          child.kill('SIGKILL');
          await exited;
        }
      }
      live.delete(entry);
    },
  };
}

/** True when something accepts a TCP connection on host:port right now. */
export function acceptsTcp(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Polls ready() until it says true, the daemon dies, or timeoutMs passes; the error carries the
 * daemon's output, which is where the reason is (bad config, port taken, wrong permissions).
 */
export async function waitUntilReady(
  daemon: Daemon,
  ready: () => Promise<boolean>,
  { timeoutMs, what }: { timeoutMs: number; what: string },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = daemon.exitStatus();
    if (status !== undefined) {
      await Promise.race([daemon.closed, sleep(1000)]); // its last words explain the exit
      throw startError(daemon, `${status} before ${what}`);
    }
    if (await ready()) return;
    if (Date.now() >= deadline) {
      throw startError(daemon, `not ${what} within ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

/**
 * waitUntilReady for a server with an HTTP readiness endpoint: ready once GET `url` answers 2xx
 * (refused, timed out or any other status: not yet). A start that fails SIGKILLs the daemon and
 * removes `dir` before the error is thrown, so it leaves nothing running that keeps the test file
 * open until its timeout.
 */
export async function waitUntilHttpReady(daemon: Daemon, url: string, { timeoutMs, dir }: { timeoutMs: number; dir?: string }): Promise<void> {
  try {
    await waitUntilReady(
      daemon,
      async () => {
        try {
          return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
        } catch {
          return false;
        }
      },
      { timeoutMs, what: `ready on ${url}` },
    );
  } catch (error) {
    await daemon.stop('SIGKILL', 5000);
    if (dir) removeDir(dir);
    throw error;
  }
}

function startError(daemon: Daemon, what: string): Error {
  const output = daemon.output().trimEnd() || '(no output)';
  return new Error(`${daemon.name} ${what}\n--- ${daemon.name} output ---\n${output}`);
}
