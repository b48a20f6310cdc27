// `devicegate clients add --approves-devices-of` and `clients update`: the approval permission of a
// product site's client (server/src/endpoints/approval-api.ts), as an operator grants it. A file of
// its own: each command is a process, and the other client commands fill clients.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { assertOneLineError, listClients, runCli } from './run-cli.ts';

let dataDir: string;
before(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-approval-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (args: string[], stdin?: string) => runCli([...args, '--data-dir', dataDir], { stdin });

test('clients add --approves-devices-of grants the approval permission, clients update changes or takes it, public clients cannot have it', async () => {
  const secret = 'product-site-secret-0123456789';
  const added = await cli(['clients', 'add', 'shop-web', '--confidential', '--grant-types', 'client_credentials', '--approves-devices-of', 'shop-tv,shop-stick'], `${secret}\n`);
  assert.equal(added.code, 0, added.stderr);
  const approvesOf = async () => (await listClients(dataDir)).find((entry) => entry.clientId === 'shop-web')?.approvesDevicesOf;
  assert.deepEqual(await approvesOf(), ['shop-tv', 'shop-stick']);

  const changed = await cli(['clients', 'update', 'shop-web', '--approves-devices-of', 'shop-tv']);
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(changed.stdout, /approves devices of shop-tv/);
  assert.deepEqual(await approvesOf(), ['shop-tv']);
  assert.equal((await cli(['clients', 'update', 'shop-web', '--no-approves-devices'])).code, 0);
  assert.deepEqual(await approvesOf(), []);

  assertOneLineError(await cli(['clients', 'add', 'public-thing', '--approves-devices-of', 'shop-tv']), /needs a confidential client/);
  assert.equal((await cli(['clients', 'add', 'public-tv'])).code, 0);
  assertOneLineError(await cli(['clients', 'update', 'public-tv', '--approves-devices-of', 'shop-tv']), /needs a confidential client/);
  assertOneLineError(await cli(['clients', 'update', 'nope', '--approves-devices-of', 'shop-tv']), /no client "nope"/);
  assertOneLineError(await cli(['clients', 'update', 'shop-web']), /nothing to change/);
});
