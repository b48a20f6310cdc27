// What the store holds, read straight from the SQLite file: no device code, user-facing secret,
// refresh token, opaque access token, client secret or password in clear, anywhere (RFC 8628
// §5.2 stored hashed; RFC 9700 §4.14). And the codes themselves: device codes of at least 256
// bits that never repeat, user codes XXXX-XXXX from the RFC 8628 §6.1 alphabet, unique among
// live codes.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { hashSecret, randomSecret } from '@devicegate/server/secrets';
import { generateUserCode, USER_CODE_ALPHABET } from '@devicegate/server/user-code';
import { startTestAppliance, DEMO_PASSWORD, type TestAppliance } from '../support/appliance.ts';
import { basicAuthorization, deviceAuthorize, postForm, signInDevice } from './http.ts';

const CLIENT_SECRET = 'store-check-client-secret-0123456789';
const USER_PASSWORD = 'store-check-user-password';

let dg: TestAppliance;
let secrets: Record<string, string>;

before(async () => {
  dg = await startTestAppliance();
  await dg.addClient({ clientId: 'store-confidential', grantTypes: ['client_credentials'], scopes: ['api'], mayIntrospect: true }, CLIENT_SECRET);
  await dg.addClient({ clientId: 'store-opaque-tv', accessTokenFormat: 'opaque' });
  await dg.addClient({ clientId: 'store-http-tv' });
  const userId = await dg.addUser('store-check-user', USER_PASSWORD);
  const pending = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid' });
  const jwtFlow = await signInDevice(dg);
  const opaqueFlow = await signInDevice(dg, { clientId: 'store-opaque-tv', userId });
  const refreshed = await postForm(dg.issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: 'demo-tv', refresh_token: jwtFlow.tokens.refresh_token! });
  const machine = await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization('store-confidential', CLIENT_SECRET) });
  assert.equal(machine.status, 200);
  secrets = {
    'pending device code': pending.device_code,
    'redeemed device code': jwtFlow.authorization.device_code,
    'refresh token': jwtFlow.tokens.refresh_token!,
    'rotated refresh token': refreshed.body.refresh_token,
    'opaque access token': opaqueFlow.tokens.access_token,
    'opaque refresh token': opaqueFlow.tokens.refresh_token!,
    'client_credentials access token': machine.body.access_token,
    'client secret': CLIENT_SECRET,
    'user password': USER_PASSWORD,
    'demo password': DEMO_PASSWORD,
  };
});
after(() => dg.stop());

const databaseFile = () => path.join(dg.dataDir, 'devicegate.sqlite');

test('no column of any table holds a device code, token, client secret or password in clear', () => {
  const db = new Database(databaseFile(), { readonly: true, fileMustExist: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((row) => row.name);
    assert.ok(tables.includes('device_grants') && tables.includes('refresh_tokens') && tables.includes('access_tokens'));
    let cells = 0;
    for (const table of tables) {
      for (const row of db.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[]) {
        for (const [column, value] of Object.entries(row)) {
          if (value === null || typeof value === 'number' || typeof value === 'bigint') continue;
          const text = Buffer.isBuffer(value) ? value.toString('latin1') : String(value);
          cells++;
          for (const [what, secret] of Object.entries(secrets)) {
            assert.ok(!text.includes(secret), `${table}.${column} contains the ${what} in clear`);
          }
        }
      }
    }
    assert.ok(cells > 50, 'the scan looked at real data');
  } finally {
    db.close();
  }
});

test('the raw database files (main file and write-ahead log) contain none of them either', () => {
  const files = [databaseFile(), `${databaseFile()}-wal`].filter((file) => existsSync(file));
  assert.ok(files.length >= 1);
  for (const file of files) {
    const bytes = readFileSync(file).toString('latin1');
    for (const [what, secret] of Object.entries(secrets)) assert.ok(!bytes.includes(secret), `${path.basename(file)} contains the ${what}`);
  }
});

test('device codes are stored as their SHA-256 hash, which is how they are found again', async () => {
  const hash = hashSecret(secrets['pending device code']!);
  const grant = await dg.appliance.context.store.deviceGrants.findByDeviceCodeHash(hash);
  assert.ok(grant);
  assert.equal(grant.status, 'pending');
  assert.equal(await dg.appliance.context.store.deviceGrants.findByDeviceCodeHash(secrets['pending device code']!), null);
});

test('device codes carry at least 256 bits of randomness', async () => {
  const { device_code } = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  assert.match(device_code, /^[A-Za-z0-9_-]+$/);
  assert.ok(Buffer.from(device_code, 'base64url').length >= 32, device_code);
  assert.ok(Buffer.from(randomSecret(), 'base64url').length >= 32);
});

test('10,000 device codes from the generator are all distinct and full length', () => {
  const codes = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const code = randomSecret();
    assert.equal(Buffer.from(code, 'base64url').length, 32);
    codes.add(code);
  }
  assert.equal(codes.size, 10_000);
});

test('device codes handed out over HTTP are distinct, and so are their user codes', async () => {
  const deviceCodes = new Set<string>();
  const userCodes = new Set<string>();
  // Bounded, and under the per-client-and-address limit on device authorization.
  for (let i = 0; i < 15; i++) {
    const authorization = await deviceAuthorize(dg, { client_id: 'store-http-tv' });
    deviceCodes.add(authorization.device_code);
    userCodes.add(authorization.user_code);
  }
  assert.equal(deviceCodes.size, 15);
  assert.equal(userCodes.size, 15);
});

test('user codes are 8 letters from BCDFGHJKLMNPQRSTVWXZ, shown as XXXX-XXXX', async () => {
  assert.equal(USER_CODE_ALPHABET, 'BCDFGHJKLMNPQRSTVWXZ');
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const code = generateUserCode();
    assert.match(code, /^[BCDFGHJKLMNPQRSTVWXZ]{8}$/);
    for (const letter of code) seen.add(letter);
  }
  assert.equal(seen.size, USER_CODE_ALPHABET.length, 'every letter of the alphabet is used');
  const { user_code } = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  assert.match(user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
});

test('user codes are stored normalized and unique among live codes', async () => {
  const { user_code } = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  const normalized = user_code.replace('-', '');
  const { store, clock } = dg.appliance.context;
  const live = await store.deviceGrants.findLiveByUserCode(normalized, clock.now());
  assert.ok(live);
  assert.equal(live.userCode, normalized);
  const now = clock.now();
  await assert.rejects(
    store.deviceGrants.create({
      id: 'duplicate-user-code',
      deviceCodeHash: hashSecret(randomSecret()),
      userCode: normalized,
      clientId: 'demo-tv',
      scopes: ['openid'],
      deviceName: null,
      deviceModel: null,
      requestedFrom: null,
      pushKey: 'duplicate-push-key',
      createdAt: now,
      expiresAt: now + 60_000,
      interval: 5,
      resources: [],
    }),
    (error: Error) => error.name === 'UserCodeTakenError',
  );
});
