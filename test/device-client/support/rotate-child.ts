/**
 * The crash test's victim: loads the profile, then rotates and stores refresh tokens in a loop,
 * the way Session.getAccessToken does (lock, save), announcing each step on stdout. Writes to a
 * pipe are synchronous in Node on Linux, so a line is in the pipe before the next step begins.
 */
import { createTokenStore, type ProfileRecord } from '../../../device-client/src/store/token-store.ts';

const [dir, keyFile] = process.argv.slice(2) as [string, string];
const store = createTokenStore({ dir, keyFile, env: {} });
const say = (line: string) => process.stdout.write(`${line}\n`);

const recordFor = (n: number): ProfileRecord => ({
  issuer: 'https://id.example',
  clientId: 'crash-test',
  tokens: { accessToken: `at-${n}`, tokenType: 'Bearer', expiresAt: Date.now() + 600_000, refreshToken: `rt-${n}` },
  savedAt: Date.now(),
  padding: 'x'.repeat(2000 + (n % 7) * 300), // records of varying size, so a torn write would show
});

/** Started ahead of its turn (Node's start-up is the slow part): waits for "go" on stdin. */
function go(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      if (chunk.includes('go')) resolve();
    });
  });
}

async function main(): Promise<void> {
  say('ready');
  await go();
  const loaded = await store.load('crash');
  let n = loaded ? Number(loaded.tokens.refreshToken!.slice(3)) : 0;
  if (!loaded) {
    await store.withLock('crash', () => store.save('crash', recordFor(0)));
  }
  say(`loaded ${n}`);
  for (;;) {
    const next = n + 1;
    await store.withLock('crash', async () => {
      say(`begin ${next}`);
      await store.save('crash', recordFor(next));
      say(`done ${next}`);
    });
    n = next;
  }
}

main().catch((error: unknown) => {
  say(`error ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
