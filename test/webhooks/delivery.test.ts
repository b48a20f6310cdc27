import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ConfigInput } from '@devicegate/server';
import { runCli } from '../cli/run-cli.ts';
import { deviceAuthorize, refresh, signInDevice } from '../server/http.ts';
import { startTestAppliance } from '../support/appliance.ts';
import { removeDir } from '../support/daemon.ts';
import { until } from '../support/until.ts';
import { startReceiver, typesByGrant } from './receiver.ts';

/** Fast retries and polls, so the test waits for events, never for a clock. */
const FAST: ConfigInput['webhooks'] = { pollInterval: 50, retryDelay: 20, retryMaxDelay: 200, lease: 5, timeout: 2000 };

/** `devicegate webhooks add` against the data directory; returns the id and the secret it printed. */
async function addWebhook(dataDir: string, url: string): Promise<{ id: string; secret: string }> {
  const result = await runCli(['webhooks', 'add', url, '--data-dir', dataDir]);
  assert.equal(result.code, 0, result.stderr);
  const id = /webhook (wh_\S+) added/.exec(result.stdout)?.[1];
  const secret = /(whsec_\S+)/.exec(result.stdout)?.[1];
  assert.ok(id && secret, result.stdout);
  return { id, secret };
}

test('a receiver that fails its first deliveries and is down across a restart gets every event once per id, in order per grant, each signature verified', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-webhooks-'));
  const receiver = await startReceiver();
  try {
    const { secret } = await addWebhook(dataDir, receiver.url);
    receiver.setSecret(secret);
    receiver.failNext(3);
    let dg = await startTestAppliance({ dataDir, overrides: { webhooks: FAST } });
    const first = await signInDevice(dg);
    const denied = await deviceAuthorize(dg, { client_id: 'demo-tv' });
    assert.ok(await dg.appliance.context.approval.denyUserCode(denied.user_code, dg.demoUserId));
    await until(() => receiver.processed.length === 3, 30_000, 'the first three events');

    // Down: these events wait in the outbox, across the appliance's restart.
    await receiver.down();
    const second = await signInDevice(dg);
    // A rotated refresh token presented again once its successor was used: reuse detected, the
    // grant revoked (RFC 9700 §4.14.2).
    const rotated = await refresh(dg, 'demo-tv', second.tokens.refresh_token!);
    assert.equal(rotated.status, 200);
    assert.equal((await refresh(dg, 'demo-tv', rotated.body.refresh_token)).status, 200);
    assert.equal((await refresh(dg, 'demo-tv', second.tokens.refresh_token!)).status, 400);
    await dg.stop();
    await receiver.up();
    receiver.failNext(2);
    dg = await startTestAppliance({ dataDir, overrides: { webhooks: FAST } });
    try {
      // Three events before, three after: approval and tokens of the second sign-in, the reuse.
      await until(() => receiver.processed.length >= 6, 30_000, `the events held across the restart (${JSON.stringify(receiver.processed.map((event) => event.type))})`);
    } finally {
      await dg.stop();
    }

    assert.equal(receiver.processed.length, 6, JSON.stringify(receiver.processed.map((event) => event.type)));
    assert.equal(receiver.badSignatures, 0);
    assert.ok(receiver.requests > receiver.processed.length, 'the failed first deliveries were retried');
    const ids = receiver.processed.map((event) => event.id);
    assert.equal(new Set(ids).size, ids.length);
    const byGrant = typesByGrant(receiver.processed);
    const deviceGrantIds = [...byGrant.keys()];
    const flows = deviceGrantIds.map((key) => byGrant.get(key));
    // Two sign-ins (approved, then tokens issued, in that order), one denial, and the reused
    // token family: its rotation issues no webhook, its reuse does, then its revocation.
    assert.deepEqual(
      flows.filter((types) => types?.[0] === 'device.approved'),
      [
        ['device.approved', 'tokens.issued'],
        ['device.approved', 'tokens.issued'],
      ],
    );
    assert.deepEqual(flows.filter((types) => types?.[0] === 'device.denied'), [['device.denied']]);
    assert.equal(receiver.processed.filter((event) => event.type === 'refresh_token.reuse_detected').length, 1);
    for (const event of receiver.processed) {
      assert.ok(!JSON.stringify(event.data).includes(first.tokens.access_token), 'a token in a webhook');
    }
  } finally {
    await receiver.close();
    removeDir(dataDir);
  }
});

test('devicegate webhooks add, list, test, dead-letters and remove', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-webhooks-cli-'));
  const receiver = await startReceiver();
  try {
    const { id, secret } = await addWebhook(dataDir, receiver.url);
    receiver.setSecret(secret);
    const listed = await runCli(['webhooks', 'list', '--json', '--data-dir', dataDir]);
    assert.equal(listed.code, 0, listed.stderr);
    const endpoints = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(endpoints.map((endpoint) => [endpoint.id, endpoint.url, endpoint.events]), [[id, receiver.url, ['*']]]);
    assert.ok(!listed.stdout.includes(secret) && !('sealedSecret' in endpoints[0]!), 'list shows no secret');

    const sent = await runCli(['webhooks', 'test', id, '--data-dir', dataDir]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.deepEqual(receiver.processed.map((event) => event.type), ['webhook.test']);
    receiver.failNext(1);
    const refused = await runCli(['webhooks', 'test', id, '--data-dir', dataDir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^devicegate: .*answered HTTP 503\n$/);

    assert.equal((await runCli(['webhooks', 'add', 'http://example.com/hooks', '--data-dir', dataDir])).code, 2);
    assert.equal((await runCli(['webhooks', 'add', receiver.url, '--events', 'no.such.event', '--data-dir', dataDir])).code, 2);

    // A receiver that always fails: after webhooks.maxAttempts the delivery is a dead letter.
    receiver.failNext(1000);
    const dg = await startTestAppliance({ dataDir, overrides: { webhooks: { ...FAST, maxAttempts: 2 } } });
    try {
      await signInDevice(dg);
      await until(async () => (await dg.appliance.context.store.webhooks.listDeadLetters(10)).length === 2, 30_000, 'two dead letters');
    } finally {
      await dg.stop();
    }
    const dead = await runCli(['webhooks', 'dead-letters', '--json', '--data-dir', dataDir]);
    assert.equal(dead.code, 0, dead.stderr);
    assert.deepEqual(
      (JSON.parse(dead.stdout) as Array<{ eventType: string; attempts: number; lastError: string }>).map((row) => [row.eventType, row.attempts, row.lastError]).sort(),
      [
        ['device.approved', 2, 'HTTP 503'],
        ['tokens.issued', 2, 'HTTP 503'],
      ],
    );
    const removed = await runCli(['webhooks', 'remove', id, '--data-dir', dataDir]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await runCli(['webhooks', 'remove', id, '--data-dir', dataDir])).code, 1);
  } finally {
    await receiver.close();
    removeDir(dataDir);
  }
});
