import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createTokenStore, DeviceClientError, type ProfileRecord } from '@devicegate/device-client';
import { deviceEnv, tempDir } from './support/temp.ts';

const record = (refreshToken = 'rt-1'): ProfileRecord => ({
  issuer: 'https://id.example',
  clientId: 'tv',
  scope: 'openid offline_access',
  tokens: { accessToken: 'at-1', tokenType: 'Bearer', expiresAt: 1_900_000_000_000, refreshToken },
  savedAt: 1_800_000_000_000,
});

const storeIn = (dir: string, extra: Parameters<typeof createTokenStore>[0] = {}) =>
  createTokenStore({ env: deviceEnv(dir), ...extra });

async function refusal(promise: Promise<unknown>): Promise<DeviceClientError> {
  const error = await promise.then(
    () => assert.fail('expected the store to refuse'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof DeviceClientError, String(error));
  assert.equal(error.code, 'store');
  assert.doesNotMatch(error.message, /\n/, 'one line');
  return error;
}

test('a saved profile loads back as it was', async () => {
  const store = storeIn(tempDir());
  await store.save('default', record());
  assert.deepEqual(await store.load('default'), record());
  assert.deepEqual(await store.list(), ['default']);
});

test('a profile never saved loads as null', async () => {
  assert.equal(await storeIn(tempDir()).load('default'), null);
});

test('store file, key file and directory are private: 0600, 0600, 0700', async () => {
  const dir = tempDir();
  const store = storeIn(dir);
  await store.save('default', record());
  assert.equal(statSync(store.fileOf('default')).mode & 0o777, 0o600);
  assert.equal(statSync(deviceEnv(dir).DEVICEGATE_DEVICE_KEY_FILE).mode & 0o777, 0o600);
  assert.equal(statSync(store.dir).mode & 0o777, 0o700);
});

test('the key is kept apart: the store directory holds no key, the store file no token in clear', async () => {
  const dir = tempDir();
  const store = storeIn(dir);
  await store.save('default', record('a-very-recognisable-refresh-token'));
  const text = readFileSync(store.fileOf('default'), 'utf8');
  assert.doesNotMatch(text, /recognisable|at-1|id\.example/);
  assert.ok(!path.dirname(deviceEnv(dir).DEVICEGATE_DEVICE_KEY_FILE).startsWith(store.dir));
  assert.deepEqual(readdirSync(store.dir), ['default.json']);
});

test('a store file readable by group or others is refused', async () => {
  const store = storeIn(tempDir());
  await store.save('default', record());
  chmodSync(store.fileOf('default'), 0o644);
  const error = await refusal(store.load('default'));
  assert.match(error.message, /accessible to group or others \(mode 0644\)/);
});

test('a key file readable by group or others is refused', async () => {
  const dir = tempDir();
  const store = storeIn(dir);
  await store.save('default', record());
  chmodSync(deviceEnv(dir).DEVICEGATE_DEVICE_KEY_FILE, 0o640);
  const error = await refusal(store.load('default'));
  assert.match(error.message, /key file .* accessible to group or others/);
});

test('a tampered store file is refused', async () => {
  const store = storeIn(tempDir());
  await store.save('default', record());
  const file = store.fileOf('default');
  const envelope = JSON.parse(readFileSync(file, 'utf8')) as { ciphertext: string };
  const bytes = Buffer.from(envelope.ciphertext, 'base64url');
  bytes[5] = bytes[5]! ^ 0x01;
  envelope.ciphertext = bytes.toString('base64url');
  writeFileSync(file, JSON.stringify(envelope), { mode: 0o600 });
  const error = await refusal(store.load('default'));
  assert.match(error.message, /failed authentication/);
});

test('a store file truncated or garbled is refused, not read as empty', async () => {
  const store = storeIn(tempDir());
  await store.save('default', record());
  const file = store.fileOf('default');
  writeFileSync(file, readFileSync(file, 'utf8').slice(0, 40), { mode: 0o600 });
  await refusal(store.load('default'));
});

test("another profile's file copied over this one is refused (the profile name is authenticated)", async () => {
  const store = storeIn(tempDir());
  await store.save('kitchen', record('rt-kitchen'));
  await store.save('hall', record('rt-hall'));
  writeFileSync(store.fileOf('hall'), readFileSync(store.fileOf('kitchen')), { mode: 0o600 });
  const error = await refusal(store.load('hall'));
  assert.match(error.message, /failed authentication/);
});

test('a store encrypted under another key is refused', async () => {
  const dir = tempDir();
  await storeIn(dir).save('default', record());
  const other = createTokenStore({ dir: deviceEnv(dir).DEVICEGATE_DEVICE_STATE_DIR, key: randomBytes(32) });
  const error = await refusal(other.load('default'));
  assert.match(error.message, /encrypted under another key/);
});

test('a store whose key file is gone is refused', async () => {
  const dir = tempDir();
  const store = storeIn(dir);
  await store.save('default', record());
  rmSync(deviceEnv(dir).DEVICEGATE_DEVICE_KEY_FILE);
  const error = await refusal(store.load('default'));
  assert.match(error.message, /key is missing/);
});

test('a key passed in by firmware (option or DEVICEGATE_DEVICE_KEY) is used, and no key file is made', async () => {
  const dir = tempDir();
  const key = randomBytes(32);
  const env = { DEVICEGATE_DEVICE_STATE_DIR: path.join(dir, 'state'), DEVICEGATE_DEVICE_KEY: key.toString('base64'), HOME: dir };
  const store = createTokenStore({ env });
  await store.save('default', record());
  assert.equal(store.keyOrigin(), 'env');
  assert.deepEqual(await createTokenStore({ dir: store.dir, key }).load('default'), record());
  assert.deepEqual(await createTokenStore({ dir: store.dir, key: key.toString('hex') }).load('default'), record());
  assert.equal(existsSync(path.join(dir, '.config')), false);
});

test('a key of the wrong length is refused with a clear message', async () => {
  const store = createTokenStore({ dir: tempDir(), key: 'c2hvcnQ=' });
  const error = await refusal(store.save('default', record()));
  assert.match(error.message, /must be 32 bytes/);
});

test('a save replaces the file atomically: the old content or the new, no temporary files left', async () => {
  const store = storeIn(tempDir());
  await store.save('default', record('rt-1'));
  const inode = statSync(store.fileOf('default')).ino;
  await store.save('default', record('rt-2'));
  assert.notEqual(statSync(store.fileOf('default')).ino, inode, 'replaced by rename, not rewritten in place');
  assert.equal((await store.load('default'))?.tokens.refreshToken, 'rt-2');
  assert.deepEqual(readdirSync(store.dir), ['default.json']);
});

test('temporary files a killed writer left behind are swept under the lock', async () => {
  const store = storeIn(tempDir());
  await store.save('default', record());
  writeFileSync(path.join(store.dir, '.default.json.999999.abcd.tmp'), 'partial', { mode: 0o600 });
  await store.withLock('default', async () => undefined);
  assert.deepEqual(readdirSync(store.dir), ['default.json']);
});

test('the lock serializes writers, and a lock left by a dead process is taken over', async () => {
  const store = storeIn(tempDir());
  const order: string[] = [];
  await Promise.all([
    store.withLock('default', async () => {
      order.push('a-start');
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push('a-end');
    }),
    store.withLock('default', async () => {
      order.push('b-start');
      order.push('b-end');
    }),
  ]);
  assert.deepEqual(order, ['a-start', 'a-end', 'b-start', 'b-end']);
  // pid 2^22+1 is above Linux's pid_max default limit, so no live process has it.
  writeFileSync(`${store.fileOf('default')}.lock`, '4194305', { mode: 0o600 });
  assert.equal(await store.withLock('default', async () => 'taken over'), 'taken over');
});

test('room for the DPoP key (device-client/README.md): a dpop member survives the round trip', async () => {
  const store = storeIn(tempDir());
  const withKey: ProfileRecord = { ...record(), dpop: { privateJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' } } };
  await store.save('default', withKey);
  assert.deepEqual((await store.load('default'))?.dpop, withKey.dpop);
});

test('profile names that could escape the store directory are refused', () => {
  const store = storeIn(tempDir());
  for (const name of ['../x', 'a/b', '.hidden', '', 'x'.repeat(65)]) {
    assert.throws(() => store.fileOf(name), (error: unknown) => error instanceof DeviceClientError && error.code === 'usage');
  }
});
