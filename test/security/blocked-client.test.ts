// RFC 10027 §6: an operator can block a client at once. `devicegate clients block <id>` (the real
// CLI, a second process on the same data directory) takes effect on the very next request: no new
// device authorization, no redemption of a code approved before, no refresh; the pages no longer
// find its pending codes; unblocking restores it, and --revoke-grants ends its tokens for good.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { deviceAuthorize, pollToken, postForm, refresh, signInDevice } from '../server/http.ts';

const execFileAsync = promisify(execFile);
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../appliance/bin/devicegate.js');

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance();
  await dg.addClient({ clientId: 'kiosk-tv' });
});
after(() => dg.stop());

async function devicegate(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [cli, ...args, '--data-dir', dg.dataDir], {
    env: { ...process.env, DEVICEGATE_LOG_LEVEL: 'silent' },
    timeout: 60_000,
  });
  return stdout;
}

function assertInvalidClient(result: { status: number; body: any }) {
  assert.equal(result.status, 401, JSON.stringify(result.body));
  assert.equal(result.body.error, 'invalid_client');
}

test('a blocked client cannot start a device flow, redeem an approved code, or refresh; unblocking restores it', async () => {
  const { tokens } = await signInDevice(dg, { clientId: 'kiosk-tv' });
  const approvedBeforeBlock = await deviceAuthorize(dg, { client_id: 'kiosk-tv' });
  assert.equal(await dg.appliance.context.approval.approveUserCode(approvedBeforeBlock.user_code, dg.demoUserId), true);
  const pendingBeforeBlock = await deviceAuthorize(dg, { client_id: 'kiosk-tv' });

  assert.match(await devicegate('clients', 'block', 'kiosk-tv'), /client kiosk-tv blocked/);

  assertInvalidClient(await postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'kiosk-tv' }));
  assertInvalidClient(await pollToken(dg, 'kiosk-tv', approvedBeforeBlock.device_code));
  assertInvalidClient(await refresh(dg, 'kiosk-tv', tokens.refresh_token!));
  // The verification pages no longer find its codes: nobody can approve for a blocked client.
  const lookup = await dg.appliance.context.userCodeEntry.lookup(pendingBeforeBlock.user_code, { address: '192.0.2.1' });
  assert.equal(lookup.kind, 'not_found');
  // Other clients are untouched.
  assert.equal((await postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'demo-tv' })).status, 200);

  assert.match(await devicegate('clients', 'unblock', 'kiosk-tv'), /client kiosk-tv unblocked/);
  const refreshed = await refresh(dg, 'kiosk-tv', tokens.refresh_token!);
  assert.equal(refreshed.status, 200, 'block alone does not revoke: the grant lives on after unblock');
  assert.equal((await pollToken(dg, 'kiosk-tv', approvedBeforeBlock.device_code)).status, 200);
});

test('blocking with --revoke-grants ends the tokens already out there, for good', async () => {
  const { tokens } = await signInDevice(dg, { clientId: 'kiosk-tv' });
  assert.match(await devicegate('clients', 'block', 'kiosk-tv', '--revoke-grants'), /grant\(s\) revoked/);
  await devicegate('clients', 'unblock', 'kiosk-tv');
  const result = await refresh(dg, 'kiosk-tv', tokens.refresh_token!);
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'invalid_grant');
  const access = await dg.appliance.context.accessTokens.verify(tokens.access_token);
  assert.equal(access, null, 'the access token is inactive (introspection answers active:false)');
});

test('block and unblock are recorded in the audit log', async () => {
  const events = await dg.appliance.context.store.auditEvents.list({ limit: 10_000 });
  const blocks = events.filter((entry) => entry.event === 'client_blocked' && entry.fields.clientId === 'kiosk-tv');
  const unblocks = events.filter((entry) => entry.event === 'client_unblocked' && entry.fields.clientId === 'kiosk-tv');
  assert.equal(blocks.length, 2);
  assert.equal(unblocks.length, 2);
  assert.ok(blocks.some((entry) => typeof entry.fields.revokedGrants === 'number' && entry.fields.revokedGrants >= 1));
});

test('blocking an unknown client fails with a message and a non-zero exit', async () => {
  await assert.rejects(devicegate('clients', 'block', 'no-such-client'), (error: Error & { code?: number; stderr?: string }) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr ?? '', /no client "no-such-client"/);
    return true;
  });
});
