// The crash test of the token endpoint's lost answers, one backend per test file (each file has
// the runner's time budget of its own): see lost-answers-crash-sqlite.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Decision, Store } from '@devicegate/server';
import { hashSecret } from '../../../server/src/secrets.ts';
import type { Daemon } from '../../support/daemon.ts';
import { freePort } from '../../support/ports.ts';
import { startServeDaemon } from '../../support/serve.ts';
import { DEVICE_CODE_GRANT_TYPE } from '../../server/http.ts';

const DEVICES = 40;
/** Where the kill lands: after so many answers arrived, or so many milliseconds after the requests left. */
export type KillMoment = { afterAnswers: number } | { afterMs: number };
const KILL_MOMENTS: KillMoment[] = [{ afterAnswers: 1 }, { afterAnswers: 12 }, { afterMs: 10 }];

export interface Backend {
  /** Extra `serve` arguments. */
  args: string[];
  /** A store of the test's own on the same state, to approve codes as the pages would. */
  store: Store;
  /** Rows of a query that reads the same on both backends. */
  rows(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

interface Device {
  deviceCode: string;
  /** The newest refresh token this device received (none before redemption). */
  refreshToken: string | null;
}

export function crashSuite(name: string, openBackend: (dataDir: string) => Promise<Backend>, options: { skip?: false | string; moments?: KillMoment[] } = {}) {
  const { skip = false, moments = KILL_MOMENTS } = options;
  describe(`lost answers on ${name}`, { skip }, () => {
    const workDir = mkdtempSync(path.join(tmpdir(), `devicegate-lost-${name}-`));
    const dataDir = path.join(workDir, 'data');
    after(() => rmSync(workDir, { recursive: true, force: true }));
    const configFile = path.join(workDir, 'config.json');
    // The windows at their maximum, so a restart on a busy machine stays inside them (the
    // defaults are tested with a manual clock in test/server); limits raised for 40 devices
    // behind one address, which is not what this test is about.
    writeFileSync(
      configFile,
      JSON.stringify({
        redemptionRetryWindow: 600,
        refreshRetryWindow: 600,
        limits: {
          deviceAuthorizationPerClientAndAddress: { points: 100_000, duration: 60 },
          tokenPerAddress: { points: 100_000, duration: 60 },
          introspectionPerClient: { points: 100_000, duration: 60 },
        },
      }),
    );

    let port = 0;
    let base = '';
    let backend: Backend;

    /** Always the same data directory and port, as an operator's restart would be. */
    const startAppliance = () =>
      startServeDaemon({
        name: `devicegate lost answers on ${name}`,
        port,
        dataDir,
        args: ['--config', configFile, '--no-mqtt', '--no-websocket', ...backend.args],
        env: { DEVICEGATE_DEMO_PASSWORD: 'lost-answers-demo-password' },
      });

    const post = async (form: Record<string, string>, pathname = '/oauth/token') => {
      const response = await fetch(`${base}${pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: 'demo-tv', ...form }).toString(),
        signal: AbortSignal.timeout(30_000),
      });
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    const redeem = (device: Device) => post({ grant_type: DEVICE_CODE_GRANT_TYPE, device_code: device.deviceCode });
    const refresh = (device: Device) => post({ grant_type: 'refresh_token', refresh_token: device.refreshToken! });

    /**
     * Sends `request` for every device at once and kills the appliance at `moment`; returns the
     * devices whose answer never arrived. An answer that did arrive must be tokens.
     */
    async function killDuring(child: Daemon, devices: Device[], request: (device: Device) => ReturnType<typeof post>, moment: KillMoment) {
      let answers = 0;
      // stop() signals only a process still running, so a second call (or a late timer) is harmless.
      const kill = () => void child.stop('SIGKILL', 5000);
      if ('afterMs' in moment) setTimeout(kill, moment.afterMs);
      const outcomes = await Promise.all(
        devices.map(async (device) => {
          try {
            const answer = await request(device);
            if (++answers === ('afterAnswers' in moment ? moment.afterAnswers : -1)) kill();
            assert.equal(answer.status, 200, `an answer before the kill is tokens: ${JSON.stringify(answer.body)}`);
            device.refreshToken = answer.body.refresh_token;
            return null;
          } catch (error) {
            if (error instanceof assert.AssertionError) throw error;
            return device; // cut off by the kill: the device never learnt what happened
          }
        }),
      );
      await child.stop('SIGKILL', 5000);
      return outcomes.filter((device): device is Device => device !== null);
    }

    test(`${DEVICES} redemptions and ${DEVICES} refreshes in flight, SIGKILL at ${moments.length} moments each: every device stays signed in`, { timeout: 600_000 }, async () => {
      port = await freePort();
      base = `http://127.0.0.1:${port}`;
      backend = await openBackend(dataDir);
      let child = await startAppliance();
      const demo = await backend.store.users.getByUsername('demo');
      assert.ok(demo);
      const report: string[] = [];
      try {
        for (const moment of moments) {
          // 40 devices ask, a person approves each (the store write the pages make).
          const devices: Device[] = await Promise.all(
            Array.from({ length: DEVICES }, async (_, i) => {
              const authorization = await post({ scope: 'openid offline_access', device_name: `TV ${i}` }, '/oauth/device_authorization');
              assert.equal(authorization.status, 200, JSON.stringify(authorization.body));
              const deviceGrant = await backend.store.deviceGrants.findByDeviceCodeHash(hashSecret(authorization.body.device_code));
              const decision: Decision = { status: 'approved', userId: demo.id, grantedScopes: ['openid', 'offline_access'], authTime: Date.now(), amr: ['pwd'], acr: null };
              assert.equal(await backend.store.deviceGrants.decide(deviceGrant!.id, decision, Date.now()), true);
              return { deviceCode: authorization.body.device_code, refreshToken: null };
            }),
          );

          // Redemption: every device polls at once; the appliance dies under them.
          const unanswered = await killDuring(child, devices, redeem, moment);
          child = await startAppliance();
          // Each device retries once; the devices do so at the same time, as a fleet would.
          await Promise.all(
            unanswered.map(async (device) => {
              const retry = await redeem(device);
              assert.equal(retry.status, 200, `an approved code whose answer was lost must still yield tokens: ${JSON.stringify(retry.body)}`);
              device.refreshToken = retry.body.refresh_token;
            }),
          );
          const familiesWithoutTokens = await backend.rows(`SELECT g.id FROM grants g WHERE g.revoked_at IS NULL AND NOT EXISTS
            (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id AND r.rotated_at IS NULL AND r.revoked_at IS NULL)`);
          assert.deepEqual(familiesWithoutTokens, [], 'no token family without a live refresh token');
          const redeemedWithoutFamily = await backend.rows(`SELECT d.id FROM device_grants d WHERE d.status = 'redeemed'
            AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = d.grant_id)`);
          assert.deepEqual(redeemedWithoutFamily, [], 'no code redeemed without its family');

          // Refresh: every device refreshes at once; the appliance dies under them.
          const cutOff = await killDuring(child, devices, refresh, moment);
          child = await startAppliance();
          await Promise.all(
            cutOff.map(async (device) => {
              const retry = await refresh(device);
              assert.equal(retry.status, 200, `a refresh whose answer was lost, retried, must not sign the device out: ${JSON.stringify(retry.body)}`);
              device.refreshToken = retry.body.refresh_token;
            }),
          );
          // Every family is alive: each device refreshes once more with what it holds now.
          await Promise.all(
            devices.map(async (device) => {
              const next = await refresh(device);
              assert.equal(next.status, 200, `the device is still signed in: ${JSON.stringify(next.body)}`);
              device.refreshToken = next.body.refresh_token;
            }),
          );
          const revoked = await backend.rows('SELECT id, revoked_reason FROM grants WHERE revoked_at IS NOT NULL');
          assert.deepEqual(revoked, [], 'no family revoked by a retry within the window');
          report.push(`${JSON.stringify(moment)}: ${unanswered.length} redemptions and ${cutOff.length} refreshes cut off`);
        }
        console.log(`lost answers on ${name}: ${report.join('; ')}`);
      } finally {
        await child.stop('SIGKILL', 5000);
        await backend.close();
      }
    });
  });
}

