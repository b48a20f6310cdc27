// Child processes of the bench: the servers under test (forked, with IPC) and the load
// generators (one process each). Every wait is bounded.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = path.resolve(benchDir, '..');

export interface Child<Ready = Record<string, unknown>> {
  process: ChildProcess;
  ready: Ready;
  /** Sends a message and waits (bounded) for the first answer of `answerType`. */
  ask<T = Record<string, unknown>>(message: Record<string, unknown>, answerType: string, timeoutMs?: number): Promise<T>;
  next<T = Record<string, unknown>>(answerType: string, timeoutMs: number): Promise<T>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
/** Counts a child among those killAll() ends. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Ends every child still running (on the bench's own timeout or a failure). */
export function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
}

export function next<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no "${type}" message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: { type?: string }) => {
      if (message?.type !== type) return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child exited (${code}) before "${type}"`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Forks a module (TypeScript through tsx) and waits for its `ready` message. */
export async function startChild<Ready>(
  module: string,
  options: { env?: Record<string, string>; execArgv?: string[]; readyTimeoutMs?: number; stdout?: 'ignore' | 'inherit' } = {},
): Promise<Child<Ready>> {
  const child = fork(module, [], {
    cwd: repoDir,
    execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
    env: { ...process.env, ...options.env },
    // The appliance logs at its default level (info) like a real deployment; where the lines go
    // (journald, a file) is not what is measured, so they go to /dev/null here.
    stdio: ['ignore', options.stdout ?? 'ignore', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const ready = await next<Ready>(child, 'ready', options.readyTimeoutMs ?? 60_000).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    process: child,
    ready,
    ask(message, answerType, timeoutMs = 30_000) {
      const answer = next<never>(child, answerType, timeoutMs);
      child.send(message);
      return answer;
    },
    next: (answerType, timeoutMs) => next(child, answerType, timeoutMs),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'stop' }, () => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface LoadResult {
  requestsPerSecond: number;
  total: number;
  /** Requests including the warm-up's. */
  sent: number;
  /** Server CPU time (user + system) per request, in microseconds, when the server was asked. */
  serverCpuMicros?: number;
  seconds: number;
  latency: { p50: number; p97_5: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, { count: number }>;
}

/** One autocannon run in a process of its own. */
export function runLoad(job: Record<string, unknown>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // The job may hold thousands of request bodies: too large for the environment, so a file.
    const jobFile = path.join(mkdtempSync(path.join(tmpdir(), 'devicegate-bench-load-')), 'job.json');
    writeFileSync(jobFile, JSON.stringify(job));
    const child = spawn(process.execPath, [path.join(benchDir, 'lib', 'load-process.mjs'), jobFile], {
      cwd: repoDir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const limit = ((Number(job.durationSeconds ?? 8) + Number(job.warmupSeconds ?? 0)) * 1000) + 60_000;
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      rmSync(path.dirname(jobFile), { recursive: true, force: true });
      try {
        if (code !== 0) throw new Error(`load generator exited with ${code}`);
        resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
      } catch (error) {
        reject(error);
      }
    });
  });
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  gc: boolean;
}

/** A load run with the server's CPU time per answered request (a figure that contention on a shared machine disturbs far less than requests per second). */
export async function runLoadMeasuringCpu(server: Child<unknown>, job: Record<string, unknown>, profileFile?: string): Promise<LoadResult> {
  const before = await server.ask<{ micros: number }>({ type: 'cpu' }, 'cpu');
  if (profileFile) await server.ask({ type: 'profile-start' }, 'profiling');
  const result = await runLoad(job);
  if (profileFile) await server.ask({ type: 'profile-stop', file: profileFile }, 'profiled', 60_000);
  const after = await server.ask<{ micros: number }>({ type: 'cpu' }, 'cpu');
  return { ...result, serverCpuMicros: Math.round((after.micros - before.micros) / Math.max(1, result.sent)) };
}

export const memoryOf = (child: Child<unknown>) => child.ask<MemorySample>({ type: 'memory' }, 'memory');
