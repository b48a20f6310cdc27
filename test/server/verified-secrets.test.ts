// A client secret verified a moment ago skips argon2 on the next request
// (docs/performance.md#verified-client-secrets), and nothing else changes: wrong secrets, rotated
// secrets and blocked clients are refused as before.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '@devicegate/server';
import { createVerifiedSecrets } from '../../server/src/http/verified-secrets.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { addIntrospector, introspect } from './http.ts';

describe('remembered client secrets at the introspection endpoint', () => {
  let dg: TestAppliance;
  let introspector: { clientId: string; secret: string };
  before(async () => {
    dg = await startTestAppliance({ modules: 'none' });
    introspector = await addIntrospector(dg);
  });
  after(() => dg?.stop());

  test('the right secret is accepted again and again', async () => {
    for (let attempt = 0; attempt < 3; attempt++) assert.equal((await introspect(dg, 'not-a-token', introspector)).status, 200);
  });

  test('a wrong secret is refused after the right one was remembered', async () => {
    assert.equal((await introspect(dg, 'not-a-token', introspector)).status, 200);
    assert.equal((await introspect(dg, 'not-a-token', { ...introspector, secret: `${introspector.secret}x` })).status, 401);
  });

  test('a rotated secret: the old one is refused at once, though it was remembered', async () => {
    assert.equal((await introspect(dg, 'not-a-token', introspector)).status, 200);
    const client = (await dg.appliance.context.store.clients.get(introspector.clientId))!;
    await dg.appliance.context.store.clients.put({ ...client, secretHash: await hashPassword('the-new-secret-0123456789') });
    assert.equal((await introspect(dg, 'not-a-token', introspector)).status, 401);
    assert.equal((await introspect(dg, 'not-a-token', { ...introspector, secret: 'the-new-secret-0123456789' })).status, 200);
    introspector = { ...introspector, secret: 'the-new-secret-0123456789' };
  });

  test('a blocked client is refused at once, though its secret was remembered', async () => {
    assert.equal((await introspect(dg, 'not-a-token', introspector)).status, 200);
    const client = (await dg.appliance.context.store.clients.get(introspector.clientId))!;
    await dg.appliance.context.store.clients.put({ ...client, disabled: true });
    assert.equal((await introspect(dg, 'not-a-token', introspector)).status, 401);
  });
});

describe('createVerifiedSecrets', () => {
  test('remembers a secret for its client and stored hash only', () => {
    const cache = createVerifiedSecrets({ now: () => 0 });
    cache.remember('api', 'hash-1', 'secret');
    assert.equal(cache.matches('api', 'hash-1', 'secret'), true);
    assert.equal(cache.matches('api', 'hash-1', 'secreT'), false);
    assert.equal(cache.matches('api', 'hash-2', 'secret'), false);
    assert.equal(cache.matches('other', 'hash-1', 'secret'), false);
  });

  test('forgets a secret when its time is up', () => {
    let now = 0;
    const cache = createVerifiedSecrets({ now: () => now, ttlMs: 1000 });
    cache.remember('api', 'hash', 'secret');
    now = 999;
    assert.equal(cache.matches('api', 'hash', 'secret'), true);
    now = 1000;
    assert.equal(cache.matches('api', 'hash', 'secret'), false);
  });

  test('holds at most maxEntries clients, the oldest going first', () => {
    const cache = createVerifiedSecrets({ now: () => 0, maxEntries: 2 });
    cache.remember('a', 'h', 's');
    cache.remember('b', 'h', 's');
    cache.remember('c', 'h', 's');
    assert.equal(cache.matches('a', 'h', 's'), false);
    assert.equal(cache.matches('b', 'h', 's'), true);
    assert.equal(cache.matches('c', 'h', 's'), true);
  });
});
