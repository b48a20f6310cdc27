import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createTokenStore } from '@devicegate/device-client';
import { tempDir } from './support/temp.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Bounded in count and in time, whichever ends first (the machine may be slow or busy). */
const MAX_KILLS = 300;
const MAX_MS = 45_000;
/** Children started ahead, so Node's start-up overlaps with the previous child's run. */
const POOL = 3;

interface Victim {
  process: ChildProcessByStdio<Writable, Readable, null>;
  output: string;
  /** Resolves when the output has a line starting with `prefix`. */
  saw(prefix: string): Promise<void>;
  closed: Promise<NodeJS.Signals | null>;
}

function startVictim(script: string, stateDir: string, keyFile: string): Victim {
  const child = spawn(process.execPath, [script, stateDir, keyFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiters: { prefix: string; resolve: () => void }[] = [];
  const victim: Victim = {
    process: child,
    output: '',
    saw(prefix) {
      if (victim.output.split('\n').some((line) => line.startsWith(prefix))) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ prefix, resolve }));
    },
    closed: new Promise((resolve) => child.on('close', (_code, signal) => resolve(signal))),
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    victim.output += chunk;
    for (const waiter of [...waiters]) {
      if (victim.output.split('\n').some((line) => line.startsWith(waiter.prefix))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  child.stdin.on('error', () => undefined); // a killed child's stdin may break; that is the point
  return victim;
}

test('SIGKILL at random moments while rotating tokens: the store always opens to the last token or the one before', async (t) => {
  const dir = tempDir();
  // Bundled once to plain JS, so each of hundreds of child processes starts fast.
  const script = path.join(dir, 'rotate-child.mjs');
  await build({
    entryPoints: [path.join(here, 'support', 'rotate-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: script,
    logLevel: 'error',
  });
  const stateDir = path.join(dir, 'state');
  const keyFile = path.join(dir, 'config', 'device.key');
  const store = createTokenStore({ dir: stateDir, keyFile, env: {} });

  const pool: Victim[] = [];
  t.after(() => pool.forEach((victim) => victim.process.kill('SIGKILL')));
  const started = Date.now();
  let kills = 0;
  let killedMidWrite = 0;
  let expected = 0;
  while (kills < MAX_KILLS && Date.now() - started < MAX_MS) {
    while (pool.length < POOL) pool.push(startVictim(script, stateDir, keyFile));
    const victim = pool.shift()!;
    await victim.saw('ready');
    victim.process.stdin.write('go\n');
    // A random moment, placed by the child's progress rather than by the clock, so a busy
    // machine shifts nothing: mostly a few ms after the k-th write began (often inside it),
    // sometimes right after start-up, before any write.
    if (Math.random() < 0.2) {
      await Promise.race([victim.saw('loaded'), victim.closed]);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
    } else {
      const k = 1 + Math.floor(Math.random() * 4);
      await Promise.race([victim.saw(`begin ${expected + k}`), victim.closed]);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
    }
    victim.process.kill('SIGKILL');
    const signal = await victim.closed;
    assert.equal(signal, 'SIGKILL', `child ended on its own: ${victim.output.slice(-300)}`);
    kills += 1;

    const lines = victim.output.split('\n').filter(Boolean);
    const loadedAt = Number(lines.find((line) => line.startsWith('loaded '))?.slice(7) ?? NaN);
    if (!Number.isNaN(loadedAt)) assert.equal(loadedAt, expected, 'a new process starts from what the last one stored');
    const begun = lines.filter((line) => line.startsWith('begin ')).map((line) => Number(line.slice(6)));
    const done = lines.filter((line) => line.startsWith('done ')).map((line) => Number(line.slice(5)));
    const lastDone = done.at(-1) ?? expected;
    const lastBegun = begun.at(-1) ?? lastDone;

    const record = await store.load('crash'); // throws on a torn, tampered or missing file
    assert.ok(record, 'the profile is there after every kill');
    const n = Number(record.tokens.refreshToken!.slice(3));
    assert.equal(record.tokens.accessToken, `at-${n}`, 'access and refresh token from the same save');
    assert.ok(n === lastDone || n === lastBegun, `store holds rt-${n}; last stored ${lastDone}, last begun ${lastBegun}`);
    if (lastBegun !== lastDone) killedMidWrite += 1;
    expected = n;
  }
  assert.ok(expected > 0, 'tokens were rotated');
  t.diagnostic(`kills: ${kills} in ${Date.now() - started} ms, killed between begin and done: ${killedMidWrite}, rotations: ${expected}`);
});
