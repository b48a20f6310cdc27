import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const config = path.join(repoRoot, '.dependency-cruiser.cjs');
const depcruise = path.join(repoRoot, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');

function run(command: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    // No colour: CI=true makes dependency-cruiser's colour detection paint the rule names.
    const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
    execFile(process.execPath, [command, ...args], { cwd, env, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      // eslint-disable-next-line no-control-regex -- and strip whatever colour is left
      resolve({ code, output: `${stdout}${stderr}`.replace(/\x1b\[[0-9;]*m/g, '') });
    });
  });
}

/** The layer rules of .dependency-cruiser.cjs (drawn in docs/architecture.md), checked on every run. */
describe('architecture', () => {
  test('no import cycle and no layer crossed: protocol <- server <- pages <- appliance, device client on protocol only', async () => {
    const result = await run(depcruise, ['-c', config, '--output-type', 'err', 'protocol', 'server', 'verification-ui', 'appliance', 'device-client', 'simulators'], repoRoot);
    assert.equal(result.code, 0, result.output);
  });

  test('the check finds a cycle and crossed layers where there are some', async () => {
    const fixture = path.join(repoRoot, 'test/architecture/fixture');
    const result = await run(depcruise, ['-c', config, '--output-type', 'err', 'server', 'verification-ui', 'device-client'], fixture);
    assert.notEqual(result.code, 0, result.output);
    for (const rule of ['no-cycles', 'server-below-pages-and-composition', 'device-client-on-protocol-only']) {
      assert.match(result.output, new RegExp(`error ${rule}:`), `${rule} is reported:\n${result.output}`);
    }
  });

  test('the whole tree type-checks (tsc --noEmit)', async () => {
    const result = await run(tsc, ['-p', 'tsconfig.json', '--noEmit'], repoRoot);
    assert.equal(result.code, 0, result.output);
  });
});
