// The `devicegate-sim` command as an operator runs it: against a running appliance, creating its
// clients and people with the appliance's own `devicegate` CLI in the appliance's data dir.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FleetReport } from '@devicegate/simulators';
import { repoRoot, runNodeBin } from '../cli/run-cli.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';

const simBin = path.join(repoRoot, 'simulators/bin/devicegate-sim.js');

function runSim(args: string[], timeoutMs = 150_000) {
  return runNodeBin(simBin, args, { timeoutMs });
}

describe('devicegate-sim fleet', () => {
  let appliance: TestAppliance;
  let work: string;
  before(async () => {
    appliance = await startTestAppliance({
      overrides: {
        limits: {
          userCodeEntryPerSession: { points: 1000, duration: 60 },
          userCodeEntryPerAddress: { points: 1000, duration: 60 },
          signInPerAddress: { points: 1000, duration: 300 },
        },
      },
    });
    work = mkdtempSync(path.join(tmpdir(), 'devicegate-sim-cli-'));
  });
  after(async () => {
    await appliance?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('creates its clients and people with `devicegate`, runs the fleet, prints the tables and writes an OK JSON report', async () => {
    const reportFile = path.join(work, 'report.json');
    const result = await runSim([
      'fleet', '--issuer', appliance.issuer, '--data-dir', appliance.dataDir,
      '--devices', '12', '--people', '2', '--scenario', 'approve=2,deny=1', '--interval', '1', '--think', '200',
      '--json', reportFile,
    ]);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /Flows by outcome/);
    assert.match(result.stdout, /approval → token/);
    assert.match(result.stdout, /Result: OK/);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as FleetReport;
    assert.equal(report.ok, true);
    assert.equal(report.flows.total, 12);
    assert.deepEqual(report.settings.scenarios, { approve: 8, deny: 4, ignore: 0, 'slow-reader': 0 });
    assert.equal(report.flows.byOutcome.approved, 8);
    assert.equal(report.flows.byOutcome.denied, 4);
    // The people exist now, created through the appliance's CLI, not behind its back.
    assert.ok(await appliance.appliance.context.store.users.getByUsername('sim-person-1'));
    assert.ok(await appliance.appliance.context.store.clients.get('sim-translator'));
  });

  test('takes existing accounts from --users-file', async () => {
    await appliance.addUser('alice', 'alice-password-1');
    const usersFile = path.join(work, 'users.txt');
    writeFileSync(usersFile, '# one person\nalice:alice-password-1\n');
    const result = await runSim(['fleet', '--issuer', appliance.issuer, '--users-file', usersFile, '--devices', '3', '--mix', 'cli=1', '--scenario', 'approve=1', '--think', '0']);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /3\/3/);
  });

  test('exits 1 when a flow does not end as its scenario says (a wrong password)', async () => {
    const usersFile = path.join(work, 'wrong.txt');
    writeFileSync(usersFile, 'alice:not-her-password\n');
    const result = await runSim(['fleet', '--issuer', appliance.issuer, '--users-file', usersFile, '--devices', '1', '--mix', 'cli=1', '--scenario', 'deny=1', '--think', '0', '--timeout', '120']);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /person\.sign_in_failed/);
    assert.match(result.stdout, /Result: FAILED/);
  });

  test('refuses an unknown profile in --mix with exit code 2', async () => {
    const result = await runSim(['fleet', '--issuer', appliance.issuer, '--mix', 'toaster=1']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown "toaster"/);
  });
});
