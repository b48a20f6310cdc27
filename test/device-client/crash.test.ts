import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createTokenStore } from '@devicegate/device-client';
import { tempDir } from './support/temp.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Bounded in count and in time, whichever ends first (the machine may be slow or busy). */
const MAX_KILLS = 300;
const MAX_MS = 45_000;

test('SIGKILL at random moments while rotating tokens: the store always opens to the last token or the one before', async (t) => {
  const dir = tempDir();
  // Bundled once to plain JS, so each of hundreds of child processes starts in tens of ms.
  const child = path.join(dir, 'rotate-child.mjs');
  await build({
    entryPoints: [path.join(here, 'support', 'rotate-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: child,
    logLevel: 'error',
  });
  const stateDir = path.join(dir, 'state');
  const keyFile = path.join(dir, 'config', 'device.key');
  const store = createTokenStore({ dir: stateDir, keyFile, env: {} });

  const started = Date.now();
  let kills = 0;
  let killedMidWrite = 0;
  let expected = 0;
  while (kills < MAX_KILLS && Date.now() - started < MAX_MS) {
    const victim = spawn(process.execPath, [child, stateDir, keyFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let loaded = false;
    let delay: Promise<void> | undefined;
    victim.stdout.setEncoding('utf8');
    victim.stdout.on('data', (chunk: string) => {
      output += chunk;
      if (!loaded && output.includes('loaded ')) {
        loaded = true;
        // A random moment inside the rotation loop: anywhere from before the first write to
        // a dozen writes in.
        delay = new Promise((resolve) => setTimeout(resolve, Math.random() * 25));
        void delay.then(() => victim.kill('SIGKILL'));
      }
    });
    const [code, signal] = (await once(victim, 'close')) as [number | null, NodeJS.Signals | null];
    assert.equal(signal, 'SIGKILL', `child ended on its own (code ${code}): ${output.slice(-300)}`);
    kills += 1;

    const lines = output.split('\n').filter(Boolean);
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
  assert.ok(kills >= 50, `only ${kills} kills in ${MAX_MS} ms`);
  assert.ok(expected > 0, 'tokens were rotated');
  t.diagnostic(`kills: ${kills}, killed between begin and done: ${killedMidWrite}, rotations: ${expected}`);
});
