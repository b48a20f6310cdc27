// The two small stores behind DPoP: stateless server nonces (RFC 9449 §8) and the replay cache
// of single-use jti values (RFC 9449 §11.1, RFC 7523 §3), driven by a manual clock.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createManualClock } from '@devicegate/server';
import { createDpopNonces } from '../../server/src/dpop/nonce.ts';
import { createMemoryReplayCache, ReplayCacheFullError } from '../../server/src/dpop/replay-cache.ts';

const WINDOW = 300;

test('a nonce is accepted in its own window and the next one, and refused after', () => {
  const clock = createManualClock(1_700_000_000_000);
  const nonces = createDpopNonces({ secret: randomBytes(32), now: () => clock.now(), windowSeconds: WINDOW, required: true });
  const issued = nonces.current();
  assert.equal(nonces.isValid(issued), true);
  clock.advance(WINDOW * 1000);
  assert.equal(nonces.isValid(issued), true);
  clock.advance(WINDOW * 1000);
  assert.equal(nonces.isValid(issued), false);
});

test('instances sharing the secret accept each other nonces; another secret does not', () => {
  const clock = createManualClock();
  const secret = randomBytes(32);
  const a = createDpopNonces({ secret, now: () => clock.now(), windowSeconds: WINDOW, required: true });
  const b = createDpopNonces({ secret: Buffer.from(secret), now: () => clock.now(), windowSeconds: WINDOW, required: true });
  const stranger = createDpopNonces({ secret: randomBytes(32), now: () => clock.now(), windowSeconds: WINDOW, required: true });
  assert.equal(b.isValid(a.current()), true);
  assert.equal(stranger.isValid(a.current()), false);
});

test('a key is fresh once and a replay while it is remembered', async () => {
  const clock = createManualClock();
  const cache = createMemoryReplayCache({ now: () => clock.now() });
  assert.equal(await cache.remember('jti-1', clock.now() + 60_000), true);
  assert.equal(await cache.remember('jti-1', clock.now() + 60_000), false);
});

test('a key is forgotten once it expires', async () => {
  const clock = createManualClock();
  const cache = createMemoryReplayCache({ now: () => clock.now() });
  await cache.remember('jti-1', clock.now() + 60_000);
  clock.advance(60_001);
  assert.equal(await cache.remember('jti-1', clock.now() + 60_000), true);
});

test('a full cache refuses new keys instead of forgetting live ones, and accepts again once they expire', async () => {
  const clock = createManualClock();
  const cache = createMemoryReplayCache({ now: () => clock.now(), maxEntries: 3 });
  for (const key of ['a', 'b', 'c']) await cache.remember(key, clock.now() + 60_000);
  await assert.rejects(cache.remember('d', clock.now() + 60_000), ReplayCacheFullError);
  assert.equal(await cache.remember('a', clock.now() + 60_000), false);
  clock.advance(60_001);
  assert.equal(await cache.remember('d', clock.now() + 60_000), true);
});
