// A simulated fleet against the real appliance: a few hundred devices on the real device client
// (WebSocket, MQTT and polling), people approving and denying through the real verification pages
// over HTTP, and the attack scenarios against an appliance with its default limits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultClient, hashPassword, loadConfig, openStore, systemClock, type ConfigInput } from '@devicegate/server';
import { ALL_PROFILE_SCOPES, PROFILE_NAMES, PROFILES, runAttacks, runFleet, SCENARIO_NAMES, type AttackName, type FleetReport } from '@devicegate/simulators';
import { DEMO_PASSWORD } from '../support/appliance.ts';
import { startChildInstance, type ChildInstance } from '../scale-out/support.ts';

/** One loopback address plays the whole fleet: its per-address limits are raised by configuration. */
const FLEET_LIMITS = {
  deviceAuthorizationPerClientAndAddress: { points: 100_000, duration: 60 },
  tokenPerAddress: { points: 1_000_000, duration: 60 },
  metadataPerAddress: { points: 100_000, duration: 60 },
  userCodeEntryPerAddress: { points: 100_000, duration: 60 },
  userCodeEntryPerSession: { points: 100_000, duration: 60 },
  signInPerAddress: { points: 100_000, duration: 300 },
};

/** Short lifetimes so "ignore" expires within the test; far longer than an approval takes. */
const CODE_LIFETIME_SECONDS = 30;
/**
 * The fleet is one process and one event loop for 300 devices and 20 people: 2 s polls and at
 * most 100 flows at once keep it far from saturation on a busy 2-core machine (a saturated event
 * loop would make a device's 10 s WebSocket handshake time out, which is an error).
 */
const POLL_INTERVAL_SECONDS = 2;
const CONCURRENCY = 100;

/**
 * The appliance as an operator runs it, `devicegate serve` in a process of its own: in the test's
 * process the fleet's event loop starved the appliance's on a loaded machine, so the devices'
 * handshakes timed out on the appliance's side, which no real fleet (one device per machine)
 * does to an appliance.
 */
async function startFleetAppliance(name: string, config?: ConfigInput): Promise<ChildInstance> {
  return startChildInstance(name, { DEVICEGATE_DEMO_PASSWORD: DEMO_PASSWORD }, { config });
}

/**
 * The simulation's clients and the fleet's people, written beside the running appliance into its
 * database the way `devicegate clients add` does (another SQLite connection; the appliance's
 * client cache notices other connections' commits).
 */
async function addSimulationClients(instance: ChildInstance, people: Array<{ username: string; password: string }> = []): Promise<void> {
  const config = loadConfig({ overrides: { dataDir: instance.dataDir } });
  const store = await openStore(config);
  try {
    for (const name of PROFILE_NAMES) {
      await store.clients.put(
        defaultClient(config, systemClock, {
          clientId: PROFILES[name].defaultClientId,
          name: PROFILES[name].clientName,
          scopes: ALL_PROFILE_SCOPES,
          deviceCodeLifetime: CODE_LIFETIME_SECONDS,
          pollInterval: POLL_INTERVAL_SECONDS,
        }),
      );
    }
    for (const person of people) {
      await store.users.create({
        id: `user-${person.username}`,
        username: person.username,
        passwordHash: await hashPassword(person.password),
        name: person.username,
        email: `${person.username}@example.com`,
        emailVerified: true,
        disabled: false,
        createdAt: systemClock.now(),
      });
    }
  } finally {
    await store.close();
  }
}

function describeFailures(report: FleetReport): string {
  return JSON.stringify({ mismatches: report.mismatches.slice(0, 10), errors: report.errors, serverErrors: report.http.serverErrors, rateLimited: report.http.rateLimited }, null, 2);
}

describe('a fleet of 300 devices over every channel and scenario', () => {
  let appliance: ChildInstance | undefined;
  let report: FleetReport;

  before(async () => {
    appliance = await startFleetAppliance('fleet', { limits: FLEET_LIMITS, push: { maxConnectionsPerAddress: 2000 } });
    const people = Array.from({ length: 20 }, (_, i) => ({ username: `person-${i + 1}`, password: `password-of-person-${i + 1}` }));
    await addSimulationClients(appliance, people);
    report = await runFleet({
      issuer: appliance.url,
      devices: 300,
      mix: { tv: 40, translator: 20, notetaker: 20, cli: 20 },
      scenarios: { approve: 70, deny: 10, ignore: 10, 'slow-reader': 10 },
      channel: 'mix',
      concurrency: CONCURRENCY,
      people,
      slowReadMs: 1500,
      thinkMs: 2000,
      seed: 6,
      timeoutMs: 150_000,
    });
  });
  after(() => appliance?.kill());

  test('every device ends as its scenario says: approved, denied or expired', () => {
    assert.equal(report.flows.total, 300);
    for (const [scenario, tally] of Object.entries(report.flows.byScenario)) {
      assert.equal(tally.matched, tally.devices, `${scenario}: ${JSON.stringify(tally.outcomes)}\n${describeFailures(report)}`);
    }
    assert.equal(report.flows.byOutcome.error, 0, describeFailures(report));
  });

  test('no device and no person met an error, and the appliance answered no 5xx and no 429', () => {
    assert.equal(report.errors.total, 0, describeFailures(report));
    assert.equal(report.http.serverErrorsTotal, 0, describeFailures(report));
    assert.equal(report.http.rateLimitedTotal, 0, describeFailures(report));
    assert.equal(report.ok, true);
  });

  test('every channel carried every scenario', () => {
    for (const channel of ['websocket', 'mqtt', 'poll']) {
      const perScenario = report.flows.byChannel[channel];
      assert.ok(perScenario, `no device waited on ${channel}`);
      for (const scenario of SCENARIO_NAMES) {
        const outcomes = perScenario[scenario];
        const count = outcomes ? Object.values(outcomes).reduce((sum, n) => sum + n, 0) : 0;
        assert.ok(count > 0, `no ${scenario} device waited on ${channel}`);
      }
    }
  });

  test('the time from approval to token is measured on every channel, and from denial to the device', () => {
    for (const channel of ['websocket', 'mqtt', 'poll']) {
      const latency = report.latency.approvalToTokenByChannel[channel];
      assert.ok(latency && latency.count > 0 && latency.p50 !== null && latency.p99 !== null, `no approval → token figure for ${channel}`);
    }
    assert.equal(report.latency.approvalToToken.count, report.flows.byOutcome.approved);
    assert.equal(report.latency.denialToDevice.count, report.flows.byOutcome.denied);
  });
});

describe('attack scenarios against an appliance with its default limits', () => {
  let appliance: ChildInstance | undefined;
  before(async () => {
    appliance = await startFleetAppliance('attacks');
    await addSimulationClients(appliance);
  });
  after(() => appliance?.kill());

  const attack = async (name: AttackName) => {
    const [result] = await runAttacks([name], {
      issuer: appliance!.url,
      clientId: PROFILES.tv.defaultClientId,
      person: { username: 'demo', password: DEMO_PASSWORD },
      fetch: (input, init) => fetch(input, init),
    });
    assert.ok(result, `attack ${name} ran`);
    assert.equal(result.serverErrors, 0, `${name}: 5xx during the attack`);
    assert.equal(result.held, true, `${name}: ${result.summary} ${JSON.stringify(result.details)}`);
    return result;
  };

  // In this order: the guesser spends this address's code entries, which the others need.
  test('a replayed device code gets tokens once, and invalid_grant every other time', async () => {
    const result = await attack('replay-device-code');
    assert.equal(result.details.granted, 1);
  });

  test('a reused refresh token is refused and revokes the rotated one too', async () => {
    await attack('reuse-refresh-token');
  });

  test('a client that ignores slow_down is answered slow_down, with an interval that grows', async () => {
    const result = await attack('ignore-slow-down');
    assert.ok(Number(result.details.finalInterval) > Number(result.details.initialInterval));
  });

  test('a user code guesser is throttled within the per-address limit, and a fresh session too', async () => {
    const result = await attack('guesser');
    // Default: 10 code entries a minute per address and per session; the 11th is refused.
    assert.ok(Number(result.details.throttledAfter) <= 11, JSON.stringify(result.details));
    assert.equal(result.details.accepted, 0);
  });
});
