// `devicegate users add|list|passwd|remove`, passwords only ever through --password-stdin.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createSqliteStore } from '@devicegate/server';
import { verifyPassword } from '@devicegate/server/passwords';
import { startTestAppliance } from '../support/appliance.ts';
import { signInDevice } from '../server/http.ts';
import { runCli, assertOneLineError } from './run-cli.ts';

let dataDir: string;
before(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-users-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (args: string[], stdin?: string) => runCli([...args, '--data-dir', dataDir], { stdin });
const listUsers = async () => {
  const result = await cli(['users', 'list', '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Record<string, unknown>[];
};


/** Reads the stored argon2 hash through a store opened on the same database. */
async function storedHash(username: string): Promise<string> {
  const store = await createSqliteStore({ filename: path.join(dataDir, 'devicegate.sqlite') });
  try {
    return (await store.users.getByUsername(username))!.passwordHash;
  } finally {
    await store.close();
  }
}

test('users add --password-stdin creates an account with an argon2id hash of the password', async () => {
  const result = await cli(['users', 'add', 'alice', '--password-stdin', '--name', 'Alice', '--email', 'alice@example.com'], 'correct horse battery\n');
  assert.equal(result.code, 0, result.stderr);
  assert.ok(!result.stdout.includes('correct horse battery'));
  const hash = await storedHash('alice');
  assert.match(hash, /^\$argon2id\$/);
  assert.equal(await verifyPassword(hash, 'correct horse battery'), true);
});

test('users list shows accounts without their password hashes', async () => {
  const users = await listUsers();
  const alice = users.find((user) => user.username === 'alice');
  assert.equal(alice?.name, 'Alice');
  assert.equal(alice?.email, 'alice@example.com');
  assert.ok(users.every((user) => !('passwordHash' in user)));
  const table = await cli(['users', 'list']);
  assert.match(table.stdout, /^USERNAME\s+ID/);
  assert.ok(!table.stdout.includes('$argon2'));
});

test('users add without --password-stdin fails with one line', async () => {
  assertOneLineError(await cli(['users', 'add', 'bob']), /password-stdin/);
});

test('users add refuses a password shorter than 8 characters', async () => {
  assertOneLineError(await cli(['users', 'add', 'bob', '--password-stdin'], 'short\n'), /at least 8/);
});

test('users add refuses a taken username', async () => {
  assertOneLineError(await cli(['users', 'add', 'alice', '--password-stdin'], 'another password\n'), /taken/);
});

test('users add refuses a username with spaces', async () => {
  assertOneLineError(await cli(['users', 'add', 'al ice', '--password-stdin'], 'a good password\n'), /username/);
});

test('users passwd replaces the password', async () => {
  const result = await cli(['users', 'passwd', 'alice', '--password-stdin'], 'a brand new password\n');
  assert.equal(result.code, 0, result.stderr);
  const hash = await storedHash('alice');
  assert.equal(await verifyPassword(hash, 'a brand new password'), true);
  assert.equal(await verifyPassword(hash, 'correct horse battery'), false);
});

test("users passwd ends the user's page sessions, and only theirs", async () => {
  const store = await createSqliteStore({ filename: path.join(dataDir, 'devicegate.sqlite') });
  const alice = (await store.users.getByUsername('alice'))!;
  assert.equal((await cli(['users', 'add', 'dave', '--password-stdin'], 'dave password\n')).code, 0);
  const dave = (await store.users.getByUsername('dave'))!;
  const now = Date.now();
  const open = (idHash: string, userId: string) => store.sessions.create({ idHash, userId, createdAt: now, expiresAt: now + 8 * 3600_000, authTime: now, amr: ['pwd'], acr: null });
  try {
    await open('alice-laptop', alice.id);
    await open('alice-phone', alice.id);
    await open('dave-laptop', dave.id);
  } finally {
    await store.close();
  }
  const result = await cli(['users', 'passwd', 'alice', '--password-stdin'], 'yet another password\n');
  assert.equal(result.code, 0, result.stderr);
  const after = await createSqliteStore({ filename: path.join(dataDir, 'devicegate.sqlite') });
  try {
    assert.equal(await after.sessions.get('alice-laptop', now), null);
    assert.equal(await after.sessions.get('alice-phone', now), null);
    assert.ok(await after.sessions.get('dave-laptop', now));
  } finally {
    await after.close();
  }
});

test('users passwd of an unknown user fails', async () => {
  assertOneLineError(await cli(['users', 'passwd', 'nobody', '--password-stdin'], 'whatever password\n'), /no user/);
});

test('users remove deletes the account and revokes its grants', async () => {
  assert.equal((await cli(['users', 'add', 'carol', '--password-stdin'], 'carol password\n')).code, 0);
  const dg = await startTestAppliance({ dataDir, modules: 'none' });
  try {
    await dg.addClient({ clientId: 'users-tv' });
    const carol = await dg.appliance.context.store.users.getByUsername('carol');
    const { tokens } = await signInDevice(dg, { clientId: 'users-tv', userId: carol!.id });
    const removed = await cli(['users', 'remove', 'carol']);
    assert.equal(removed.code, 0, removed.stderr);
    const refreshed = await fetch(`${dg.issuer}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'users-tv', refresh_token: tokens.refresh_token! }),
    });
    assert.equal(refreshed.status, 400);
  } finally {
    await dg.stop();
  }
  assert.ok(!(await listUsers()).some((user) => user.username === 'carol'));
  assertOneLineError(await cli(['users', 'remove', 'carol']), /no user/);
});
