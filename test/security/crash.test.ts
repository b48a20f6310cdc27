// Crash safety: the real appliance (`devicegate serve`, a child process on SQLite) is killed with
// SIGKILL at random moments while a small simulated fleet works against it, and restarted on the
// same data directory, a bounded number of times. Devices ask over HTTP; people approve through
// the verification pages over HTTP (cookies, CSRF tokens, sign-in, consent), so every approval is
// made, and can be lost, by the process that gets killed. Afterwards:
//   - no approved grant is lost: every approval the pages confirmed is still approved or redeemed,
//     and one not yet redeemed still yields tokens;
//   - no device code is redeemed twice, across all restarts;
//   - no token of a revoked grant is accepted (introspection answers active:false), while every
//     token the appliance handed out and nobody revoked is still active;
//   - the audit record of each confirmed approval survived too.
// Seeded (CRASH_SEED) and bounded: CRASH_KILLS kills (default 10), each after 0.3-2 s of traffic.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hashSecret } from '../../server/src/secrets.ts';
import type { Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { startServeDaemon } from '../support/serve.ts';
import { basicAuthorization, DEVICE_CODE_GRANT_TYPE } from '../server/http.ts';
import { approveThroughPages, Browser } from './support/browser.ts';
import { auditEventsOf, deviceGrantsByCodeHash, readInvariants } from './support/invariants.ts';

const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 2 ** 31);
const KILLS = Number(process.env.CRASH_KILLS ?? 10);
const PEOPLE = 3;
const PASSWORD = 'crash-test-demo-password';
const INTROSPECTOR = { clientId: 'crash-rs', secret: 'crash-rs-secret-0123456789abcdef' };
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../appliance/bin/devicegate.js');
const execFileAsync = promisify(execFile);

let state = SEED | 0;
/** Deterministic from the seed: kill moments and device choices. */
const random = () => ((state = (Math.imul(state, 1103515245) + 12345) | 0) >>> 0) / 2 ** 32;

const workDir = mkdtempSync(path.join(tmpdir(), 'devicegate-crash-'));
const dataDir = path.join(workDir, 'data');
after(() => rmSync(workDir, { recursive: true, force: true }));
/**
 * This test is about crash consistency, not abuse limits (they have their own tests): three people
 * approve hundreds of devices a minute from three addresses, far beyond the 10 code entries a minute
 * a real person needs, so those limits are raised here. Everything else is the default but the
 * redemption retry window.
 */
const configFile = path.join(workDir, 'config.json');
writeFileSync(
  configFile,
  JSON.stringify({
    // A redemption cut off in the first round is retried after the last (docs/security.md
    // REDEEM-RETRY): the window at its maximum covers the whole run.
    redemptionRetryWindow: 600,
    limits: {
      userCodeEntryPerAddress: { points: 100_000, duration: 60 },
      userCodeEntryPerSession: { points: 100_000, duration: 60 },
      // The checks afterwards introspect every token of hundreds of flows at once.
      introspectionPerClient: { points: 100_000, duration: 60 },
    },
  }),
);

/** What the fleet learned from answers it actually received. Nothing is assumed for requests cut off by a kill. */
interface Flow {
  /** The device's own address (X-Forwarded-For), also for the checks afterwards. */
  address: string;
  deviceCode: string;
  userCode: string;
  /** 'yes' only when the pages answered with the redirect to "done". */
  approved: 'yes' | 'unknown';
  /** 200 answers to redemption, across all restarts. */
  redemptions: number;
  /** A redemption was cut off: it may or may not have happened. */
  redemptionUnknown: boolean;
  refreshToken: string | null;
  accessTokens: string[];
  /** A refresh or revocation was cut off: the latest tokens' state is unknown. */
  uncertain: boolean;
  /** A refresh answered 200: the family has used its refresh token, so the code is spent. */
  refreshed: boolean;
  /** The revocation endpoint answered 200. */
  revoked: boolean;
}
const flows: Flow[] = [];

// ---------- the appliance as a child process ----------

let port = 0;
let base = '';
/** Always the same data directory and port, as an operator's restart would be. */
function startAppliance(): Promise<Daemon> {
  return startServeDaemon({
    name: 'devicegate crash',
    port,
    dataDir,
    args: ['--config', configFile, '--no-mqtt'],
    env: { DEVICEGATE_DEMO_PASSWORD: PASSWORD, DEVICEGATE_TRUST_PROXY: 'true' },
  });
}

const kill = (child: Daemon) => child.stop('SIGKILL', 5000);

// ---------- HTTP as devices and resource servers speak it ----------

async function post(pathname: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, any> };
}

const introspect = async (token: string) =>
  (await post('/oauth/introspect', { token }, { authorization: basicAuthorization(INTROSPECTOR.clientId, INTROSPECTOR.secret) })).body;

/** Devices, one after another, until the appliance dies under them: ask, be approved, redeem, refresh, maybe log out. */
async function deviceLife(person: Browser, index: number, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    // Each flow is another device, from an address of its own.
    const n = flows.length + index;
    const deviceAddress = `198.18.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
    const authorization = await post('/oauth/device_authorization', { client_id: 'demo-tv', scope: 'openid offline_access', device_name: `TV ${index}` }, { 'x-forwarded-for': deviceAddress });
    if (authorization.status !== 200) throw new Error(`device authorization answered ${authorization.status}`);
    const flow: Flow = {
      address: deviceAddress,
      deviceCode: authorization.body.device_code,
      userCode: authorization.body.user_code,
      approved: 'unknown',
      redemptions: 0,
      redemptionUnknown: false,
      refreshToken: null,
      accessTokens: [],
      uncertain: false,
      refreshed: false,
      revoked: false,
    };
    flows.push(flow);
    await approveThroughPages(person, '/device', flow.userCode, { username: 'demo', password: PASSWORD });
    flow.approved = 'yes';

    flow.redemptionUnknown = true;
    const redeemed = await post('/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, client_id: 'demo-tv', device_code: flow.deviceCode }, { 'x-forwarded-for': deviceAddress });
    flow.redemptionUnknown = false;
    if (redeemed.status !== 200) throw new Error(`redemption answered ${redeemed.status} ${JSON.stringify(redeemed.body)}`);
    flow.redemptions++;
    flow.refreshToken = redeemed.body.refresh_token;
    flow.accessTokens.push(redeemed.body.access_token);

    flow.uncertain = true;
    const refreshed = await post('/oauth/token', { grant_type: 'refresh_token', client_id: 'demo-tv', refresh_token: flow.refreshToken! }, { 'x-forwarded-for': deviceAddress });
    if (refreshed.status !== 200) throw new Error(`refresh answered ${refreshed.status} ${JSON.stringify(refreshed.body)}`);
    flow.refreshToken = refreshed.body.refresh_token;
    flow.accessTokens.push(refreshed.body.access_token);
    flow.refreshed = true;
    flow.uncertain = false;

    if (random() < 0.4) {
      flow.uncertain = true;
      const revoked = await post('/oauth/revoke', { client_id: 'demo-tv', token: flow.refreshToken! }, { 'x-forwarded-for': deviceAddress });
      if (revoked.status !== 200) throw new Error(`revocation answered ${revoked.status}`);
      flow.revoked = true;
      flow.uncertain = false;
    }
  }
}

const isCutOff = (error: unknown) => {
  const text = `${(error as Error)?.message} ${String((error as { cause?: unknown })?.cause)}`;
  return /fetch failed|ECONNREFUSED|ECONNRESET|socket|other side closed|terminated|aborted|timeout/i.test(text);
};

test(`${KILLS} SIGKILLs under a fleet lose no approval, redeem no code twice, accept no revoked token`, { timeout: 300_000 }, async () => {
  console.log(`crash: seed ${SEED} (rerun with CRASH_SEED=${SEED}), ${KILLS} kills, data in ${dataDir}`);
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const people = Array.from({ length: PEOPLE }, (_, i) => new Browser(base, `203.0.113.${i + 20}`));

  let child = await startAppliance();
  // The resource server that introspects, added with the real CLI beside the running appliance.
  const add = execFileAsync(process.execPath, [cli, 'clients', 'add', INTROSPECTOR.clientId, '--confidential', '--introspect', '--grant-types', 'client_credentials', '--scopes', 'api', '--data-dir', dataDir], { timeout: 60_000 });
  add.child.stdin!.end(`${INTROSPECTOR.secret}\n`);
  await add;

  for (let round = 0; round < KILLS; round++) {
    let dead = false;
    const findings: unknown[] = [];
    const lives = people.map((person, i) =>
      deviceLife(person, round * PEOPLE + i, () => dead).catch((error: unknown) => {
        // Cut off by the kill is expected; any other failure is a finding.
        if (!dead || !isCutOff(error)) findings.push(error);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300 + Math.floor(random() * 1700)));
    dead = true;
    await kill(child);
    await Promise.all(lives);
    if (findings.length > 0) throw findings[0];
    child = await startAppliance();
  }

  try {
    const confirmed = flows.filter((flow) => flow.approved === 'yes');
    assert.ok(confirmed.length >= KILLS, `only ${confirmed.length} approvals confirmed in ${KILLS} rounds`);

    // No approved grant lost: the store still has every confirmed approval, approved or redeemed...
    const byHash = deviceGrantsByCodeHash(dataDir);
    for (const flow of confirmed) {
      const grant = byHash.get(hashSecret(flow.deviceCode));
      assert.ok(grant, 'the device grant of a confirmed approval exists');
      assert.ok(grant.status === 'approved' || grant.status === 'redeemed', `confirmed approval is now ${grant.status}`);
      if (flow.redemptions === 1) assert.equal(grant.status, 'redeemed');
    }
    // ...with its audit record (written before the pages answered).
    const approvedIds = new Set(auditEventsOf(dataDir, 'device_approved').map((entry) => entry.fields.deviceGrantId));
    for (const flow of confirmed) assert.ok(approvedIds.has(byHash.get(hashSecret(flow.deviceCode))!.id), 'audit record of a confirmed approval');

    // ...and one the device never got to redeem still yields tokens, once.
    let lateRedemptions = 0;
    for (const flow of confirmed.filter((f) => f.redemptions === 0)) {
      const result = await post('/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, client_id: 'demo-tv', device_code: flow.deviceCode }, { 'x-forwarded-for': flow.address });
      // A cut-off redemption either never happened or is retried within the window
      // (docs/security.md REDEEM-RETRY): either way the device gets tokens now.
      assert.equal(result.status, 200, `an approval the device never redeemed is lost: ${JSON.stringify(result.body)}`);
      flow.redemptions++;
      flow.refreshToken = result.body.refresh_token;
      flow.accessTokens.push(result.body.access_token);
      lateRedemptions++;
    }

    // No device code redeemed twice: never more than one 200, and every code whose family has
    // used its refresh token is spent (before that, the device's own retry may still redeem it:
    // REDEEM-RETRY).
    for (const flow of flows) {
      assert.ok(flow.redemptions <= 1, `a device code was redeemed ${flow.redemptions} times`);
      if (flow.approved !== 'yes' || !flow.refreshed) continue;
      const again = await post('/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, client_id: 'demo-tv', device_code: flow.deviceCode }, { 'x-forwarded-for': flow.address });
      assert.equal(again.status, 400);
      assert.equal(again.body.error, 'invalid_grant');
    }

    // No token of a revoked grant accepted; no token nobody revoked is lost.
    let revokedChecked = 0;
    let liveChecked = 0;
    for (const flow of flows.filter((f) => f.refreshToken !== null && !f.uncertain)) {
      const tokens = [flow.refreshToken!, ...flow.accessTokens.slice(-1)];
      for (const token of tokens) {
        const answer = await introspect(token);
        if (flow.revoked) {
          assert.deepEqual(answer, { active: false }, 'a token of a revoked grant is inactive');
          revokedChecked++;
        } else {
          assert.equal(answer.active, true, 'a token nobody revoked survived the crashes');
          liveChecked++;
        }
      }
    }
    assert.ok(revokedChecked > 0 && liveChecked > 0, `checked ${revokedChecked} revoked and ${liveChecked} live tokens`);

    const report = readInvariants(dataDir);
    assert.deepEqual(report.sharedFamilies, []);
    assert.equal(report.redeemedWithoutFamily, 0);
    assert.equal(report.orphanFamilies, 0);
    assert.deepEqual(report.forks, []);
    assert.equal(report.liveRefreshOfRevoked, 0);
    assert.equal(report.liveAccessOfRevoked, 0);
    console.log(
      `crash: ${flows.length} flows, ${confirmed.length} approvals confirmed, ${flows.filter((f) => f.redemptions).length} redeemed ` +
        `(${lateRedemptions} after a crash), ${flows.filter((f) => f.revoked).length} revoked, ${flows.filter((f) => f.uncertain).length} cut off mid-refresh/revocation`,
    );
  } finally {
    await child.stop('SIGTERM', 30_000);
  }
});
