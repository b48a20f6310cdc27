// The audit log: security events from full flows land in the store (append-only) and in the log,
// with no secret in either: no device code, user code, token, client secret or password, whatever
// the flow. Read back with `devicegate audit tail` and `devicegate audit export` (the real CLI).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createLogger } from '../../server/src/logger.ts';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { addIntrospector, basicAuthorization, deviceAuthorize, introspect, pollToken, postForm, refresh, request, signInDevice } from '../server/http.ts';

const execFileAsync = promisify(execFile);
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../appliance/bin/devicegate.js');

let dg: TestAppliance;
const logLines: string[] = [];
/** Every credential the flows below handle; none may appear in the audit table or the log. */
const secrets = new Set<string>();

before(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  dg = await startTestAppliance({ deps: { logger: createLogger('debug', sink) } });
  secrets.add(DEMO_PASSWORD);
  await runFullFlows();
});
after(() => dg.stop());

function keep(...values: (string | undefined)[]) {
  for (const value of values) {
    if (!value) continue;
    secrets.add(value);
    // The user code also in its normalized form (no dash), as the store keeps it.
    if (/^[A-Z]{4}-[A-Z]{4}$/.test(value)) secrets.add(value.replace('-', ''));
  }
}

async function runFullFlows() {
  const context = dg.appliance.context;
  const introspector = await addIntrospector(dg);
  keep(introspector.secret);
  const machineSecret = 'machine-client-secret-0123456789';
  keep(machineSecret);
  await dg.addClient({ clientId: 'machine', grantTypes: ['client_credentials'], scopes: ['api'] }, machineSecret);

  // Approved, redeemed, refreshed twice, reused (grant revoked).
  const first = await signInDevice(dg);
  keep(first.authorization.device_code, first.authorization.user_code, first.tokens.access_token, first.tokens.refresh_token, first.tokens.id_token);
  const r1 = await refresh(dg, 'demo-tv', first.tokens.refresh_token!);
  keep(r1.body.access_token, r1.body.refresh_token, r1.body.id_token);
  const r2 = await refresh(dg, 'demo-tv', r1.body.refresh_token);
  keep(r2.body.access_token, r2.body.refresh_token, r2.body.id_token);
  await refresh(dg, 'demo-tv', first.tokens.refresh_token!); // reuse → revoked

  // Approved and revoked by the device (RFC 7009), access token revoked alone first.
  const second = await signInDevice(dg);
  keep(second.authorization.device_code, second.authorization.user_code, second.tokens.access_token, second.tokens.refresh_token, second.tokens.id_token);
  await introspect(dg, second.tokens.access_token, introspector);
  await request(dg.issuer, '/oauth/userinfo', { headers: { authorization: `Bearer ${second.tokens.access_token}` } });
  await postForm(dg.issuer, '/oauth/revoke', { client_id: 'demo-tv', token: second.tokens.access_token, token_type_hint: 'access_token' });
  await postForm(dg.issuer, '/oauth/revoke', { client_id: 'demo-tv', token: second.tokens.refresh_token! });

  // Denied.
  const denied = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  keep(denied.device_code, denied.user_code);
  assert.equal(await context.approval.denyUserCode(denied.user_code, dg.demoUserId), true);
  await pollToken(dg, 'demo-tv', denied.device_code);

  // Wrong user codes typed on the pages, and a right one.
  for (const typed of ['BCDF-GHJK', 'wxyz mnpq', 'QRST-VWXZ']) {
    keep(typed, typed.toUpperCase().replace(/[^A-Z]/g, ''));
    await context.userCodeEntry.lookup(typed, { address: '192.0.2.7', sessionId: 'session-id-secret-0123456789' });
  }
  keep('session-id-secret-0123456789');
  const pending = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  keep(pending.device_code, pending.user_code);
  assert.equal((await context.userCodeEntry.lookup(pending.user_code, { address: '192.0.2.7' })).kind, 'found');

  // A replayed device code, a wrong client secret, a password where a secret goes, client credentials.
  await pollToken(dg, 'demo-tv', first.authorization.device_code);
  await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization('machine', 'wrong-secret-0123456789') });
  keep('wrong-secret-0123456789');
  await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials', client_id: 'machine', client_secret: DEMO_PASSWORD });
  const machine = await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization('machine', machineSecret) });
  keep(machine.body.access_token);

  await context.audit.flush?.();
}

describe('what is recorded', () => {
  test('every kind of security event of the flows is in the store', async () => {
    const events = new Set((await dg.appliance.context.store.auditEvents.list({ limit: 10_000 })).map((entry) => entry.event));
    for (const expected of [
      'device_authorized',
      'device_approved',
      'device_denied',
      'tokens_issued',
      'refresh_token_rotated',
      'refresh_token_reuse_detected',
      'grant_revoked',
      'token_revoked',
      'user_code_rejected',
    ]) {
      assert.ok(events.has(expected), `missing ${expected}; have ${[...events].join(', ')}`);
    }
  });

  test('events are also log lines tagged audit: true', () => {
    const audited = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.audit === true);
    assert.ok(audited.some((line) => line.event === 'refresh_token_reuse_detected' && line.level === 40), 'reuse logged at warn');
    assert.ok(audited.some((line) => line.event === 'device_approved'));
  });
});

describe('no secrets', () => {
  test('no device code, user code, token, client secret, session id or password appears in the audit table', () => {
    assert.ok(secrets.size >= 25, `collected ${secrets.size} secrets`);
    const db = new Database(path.join(dg.dataDir, 'devicegate.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT * FROM audit_events').all() as Record<string, unknown>[];
      assert.ok(rows.length >= 15, `only ${rows.length} audit rows`);
      const text = rows.map((row) => JSON.stringify(row)).join('\n');
      for (const secret of secrets) assert.ok(!text.includes(secret), `audit table contains a secret (${secret.slice(0, 6)}…)`);
    } finally {
      db.close();
    }
  });

  test('no secret appears in any log line either', () => {
    assert.ok(logLines.length > 50);
    const text = logLines.join('\n');
    for (const secret of secrets) assert.ok(!text.includes(secret), `log contains a secret (${secret.slice(0, 6)}…)`);
  });

  test('a careless caller passing a credential by name or shape is redacted', async () => {
    const context = dg.appliance.context;
    context.audit.record('token_revoked', {
      clientId: 'demo-tv',
      refresh_token: 'should-not-be-stored-0123456789',
      note: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ',
    });
    await context.audit.flush?.();
    const [last] = await context.store.auditEvents.tail(1);
    assert.equal(last!.fields.refresh_token, '[redacted]');
    assert.equal(last!.fields.note, '[redacted]');
    assert.equal(last!.fields.clientId, 'demo-tv');
  });
});

describe('append-only', () => {
  test('the database refuses to change or delete an audit event', () => {
    const db = new Database(path.join(dg.dataDir, 'devicegate.sqlite'), { fileMustExist: true });
    try {
      assert.throws(() => db.prepare("UPDATE audit_events SET event = 'nothing'").run(), /append-only/);
      assert.throws(() => db.prepare('DELETE FROM audit_events').run(), /append-only/);
    } finally {
      db.close();
    }
  });
});

describe('devicegate audit', () => {
  const run = async (...args: string[]) =>
    (await execFileAsync(process.execPath, [cli, 'audit', ...args, '--data-dir', dg.dataDir], { timeout: 60_000 })).stdout;

  test('tail -n N prints the newest N events, oldest first, one per line', async () => {
    const newest = await dg.appliance.context.store.auditEvents.tail(3);
    const lines = (await run('tail', '-n', '3')).trimEnd().split('\n');
    assert.equal(lines.length, 3);
    lines.forEach((line, i) => assert.ok(line.startsWith(new Date(newest[i]!.at).toISOString()) && line.includes(newest[i]!.event), line));
  });

  test('tail --json prints one JSON object per line with id, at, event and fields', async () => {
    const lines = (await run('tail', '-n', '5', '--json')).trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.equal(lines.length, 5);
    for (const line of lines) assert.deepEqual(Object.keys(line), ['id', 'at', 'event', 'fields']);
    assert.deepEqual(lines.map((line) => line.id), [...lines.map((line) => line.id)].sort((a, b) => a - b));
  });

  test('export --format jsonl writes every event; --since keeps the later ones', async () => {
    const all = await dg.appliance.context.store.auditEvents.list({ limit: 100_000 });
    const exported = (await run('export', '--format', 'jsonl')).trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(exported.map((line) => line.id), all.map((entry) => entry.id));
    const middle = all[Math.floor(all.length / 2)]!;
    const since = (await run('export', '--format', 'jsonl', '--since', new Date(middle.at).toISOString())).trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(since.map((line) => line.id), all.filter((entry) => entry.at >= middle.at).map((entry) => entry.id));
  });

  test('export refuses a format other than jsonl and a --since that is not ISO 8601', async () => {
    await assert.rejects(run('export', '--format', 'csv'), (error: Error & { code?: number }) => error.code === 2);
    await assert.rejects(run('export', '--since', 'yesterday'), (error: Error & { code?: number }) => error.code === 2);
  });

  test('tail --follow prints events recorded after it started, until interrupted', async () => {
    const child = spawn(process.execPath, [cli, 'audit', 'tail', '-n', '1', '--follow', '--json', '--data-dir', dg.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const waitFor = async (predicate: () => boolean, what: string) => {
      for (let i = 0; i < 200 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(predicate(), `timed out waiting for ${what}; got ${output}`);
    };
    try {
      await waitFor(() => output.split('\n').filter(Boolean).length >= 1, 'the newest event');
      const before = output.split('\n').filter(Boolean).length;
      await deviceAuthorize(dg, { client_id: 'demo-tv', device_name: 'Followed TV' });
      await dg.appliance.context.audit.flush?.();
      await waitFor(() => output.split('\n').filter(Boolean).length > before, 'the new event');
      const last = JSON.parse(output.trimEnd().split('\n').at(-1)!);
      assert.equal(last.event, 'device_authorized');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, 'interrupting --follow ends it cleanly');
  });
});
