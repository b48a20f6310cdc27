// `devicegate grants list|revoke` beside a running appliance: an operator sees the token
// families and can end one, which stops its tokens at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { addIntrospector, introspect, refresh, signInDevice, type TokenSet } from '../server/http.ts';
import { runCli } from './run-cli.ts';

let dg: TestAppliance;
let introspector: { clientId: string; secret: string };
let tokens: TokenSet;
before(async () => {
  dg = await startTestAppliance();
  introspector = await addIntrospector(dg);
  ({ tokens } = await signInDevice(dg));
});
after(() => dg.stop());

const cli = (args: string[]) => runCli([...args, '--data-dir', dg.dataDir]);
const listGrants = async (...flags: string[]) => {
  const result = await cli(['grants', 'list', '--json', ...flags]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as { id: string; clientId: string; userId: string; revokedAt: number | null; revokedReason: string | null }[];
};

test('grants list shows the token family of a signed-in device', async () => {
  const grants = await listGrants();
  assert.equal(grants.length, 1);
  assert.equal(grants[0]!.clientId, 'demo-tv');
  assert.equal(grants[0]!.userId, dg.demoUserId);
  const table = await cli(['grants', 'list', '--user', 'demo']);
  assert.match(table.stdout, /demo-tv/);
});

test('grants list --user of an unknown user fails with one line', async () => {
  const result = await cli(['grants', 'list', '--user', 'nobody']);
  assert.notEqual(result.code, 0);
  assert.equal(result.stderr.trimEnd().split('\n').length, 1);
});

test('grants revoke ends the grant: its access and refresh tokens stop working at once', async () => {
  const [grant] = await listGrants();
  assert.equal((await introspect(dg, tokens.access_token, introspector)).body.active, true);
  const result = await cli(['grants', 'revoke', grant!.id]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal((await introspect(dg, tokens.access_token, introspector)).body.active, false);
  assert.equal((await refresh(dg, 'demo-tv', tokens.refresh_token!)).body.error, 'invalid_grant');
});

test('a revoked grant leaves the active list and shows with --all and its reason', async () => {
  assert.equal((await listGrants()).length, 0);
  const all = await listGrants('--all');
  assert.equal(all.length, 1);
  assert.equal(all[0]!.revokedReason, 'revoked_by_admin');
  assert.equal(typeof all[0]!.revokedAt, 'number');
});

test('revoking an unknown or already revoked grant fails', async () => {
  const [grant] = await listGrants('--all');
  assert.equal((await cli(['grants', 'revoke', grant!.id])).code, 1);
  assert.equal((await cli(['grants', 'revoke', 'no-such-grant'])).code, 1);
});
