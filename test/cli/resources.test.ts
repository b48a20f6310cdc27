// `devicegate resources add|list|remove` as an operator runs them: the registry of resource
// servers (RFC 8707) that device authorization and token requests may name.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from './run-cli.ts';

let dataDir: string;
before(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-resources-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli([...args, '--data-dir', dataDir]);

test('resources add, list and remove a resource server', async () => {
  const added = await cli(['resources', 'add', 'https://tools.example.com/mcp', '--name', 'Team tools']);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /resource https:\/\/tools\.example\.com\/mcp saved \(Team tools\)/);
  const listed = await cli(['resources', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(
    (JSON.parse(listed.stdout) as Array<{ resource: string; name: string }>).map(({ resource, name }) => ({ resource, name })),
    [{ resource: 'https://tools.example.com/mcp', name: 'Team tools' }],
  );
  const again = await cli(['resources', 'add', 'https://tools.example.com/mcp']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists \(use --replace\)/);
  const removed = await cli(['resources', 'remove', 'https://tools.example.com/mcp']);
  assert.equal(removed.code, 0, removed.stderr);
  const gone = await cli(['resources', 'remove', 'https://tools.example.com/mcp']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^devicegate: no resource/);
});

test('resources add refuses what cannot be an audience: relative, fragment, plain http off the loopback', async () => {
  for (const resource of ['/api', 'https://api.example.com/#x', 'http://api.example.com']) {
    const result = await cli(['resources', 'add', resource]);
    assert.equal(result.code, 2, resource);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^devicegate: /);
  }
  assert.equal((await cli(['resources', 'add', 'http://127.0.0.1:8081/mcp'])).code, 0);
});
