import type { ChannelPreference, DeviceLogin, FetchFunction } from '@devicegate/device-client';
import { runAttacks, type AttackName, type AttackResult } from '../attacks/index.ts';
import { count429, count5xx, countingFetch, createHttpStats } from '../http.ts';
import { apportion, seededRandom, shuffledAssignment, UsageError } from '../mix.ts';
import { createPerson, PersonError, type DecisionTask, type PersonAccount } from '../people/person.ts';
import { PROFILE_NAMES, PROFILES, type ProfileName } from '../profiles.ts';
import { createErrorTally, summarize } from '../stats.ts';
import { runDevice, type DeviceResult, type DeviceSpec } from './device.ts';
import { createSemaphore, createWorkQueue } from './queue.ts';
import { createHandshakeGate } from './handshakes.ts';
import { FLOW_OUTCOMES, type FleetReport, type Mismatch, type ScenarioTally } from './report.ts';
import { decisionOf, EXPECTED_OUTCOME, SCENARIO_NAMES, type FleetChannel, type FlowOutcome, type ScenarioName } from './scenarios.ts';

export interface FleetOptions {
  issuer: string;
  devices: number;
  /** Weights per device profile, e.g. { tv: 40, translator: 20, notetaker: 20, cli: 20 }. */
  mix: Partial<Record<ProfileName, number>>;
  /** Weights per scenario, e.g. { approve: 70, deny: 10, ignore: 10, 'slow-reader': 10 }. */
  scenarios: Partial<Record<ScenarioName, number>>;
  /** `mix`: each profile's own channel; otherwise every device waits on this one. */
  channel: FleetChannel;
  /** Flows in progress at once (default: all devices at once, "every TV switched on"). */
  concurrency?: number;
  /** Accounts of the simulated people; each is one phone that approves devices one at a time. */
  people: PersonAccount[];
  /** client_id per profile, where it is not the profile's default (`sim-tv` ...). */
  clients?: Partial<Record<ProfileName, string>>;
  /** How long a slow reader reads the consent page (± 50 %). */
  slowReadMs?: number;
  /**
   * How long after a code appears someone picks up their phone to act on it (± 50 %); it does
   * not hold a person up, many devices may be waiting to be noticed at once. Devices open their
   * push channel meanwhile, as they would in a living room.
   */
  thinkMs?: number;
  seed?: number;
  /** Attack scenarios to run after the fleet. */
  attacks?: AttackName[];
  /** Hard bound on the whole run; flows still waiting then end as errors. */
  timeoutMs?: number;
  fetch?: FetchFunction;
  onProgress?(progress: FleetProgress): void;
}

export interface FleetProgress {
  done: number;
  total: number;
  outcomes: Record<FlowOutcome, number>;
  /** Codes waiting for a free person. */
  queuedForPeople: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Plans the fleet: which device is which profile, scenario and channel (seeded, reproducible). */
export function planFleet(options: Pick<FleetOptions, 'devices' | 'mix' | 'scenarios' | 'channel' | 'clients' | 'seed' | 'slowReadMs' | 'thinkMs'>) {
  const random = seededRandom(options.seed ?? 1);
  const mix = Object.fromEntries(PROFILE_NAMES.map((name) => [name, options.mix[name] ?? 0])) as Record<ProfileName, number>;
  const scenarioWeights = Object.fromEntries(SCENARIO_NAMES.map((name) => [name, options.scenarios[name] ?? 0])) as Record<ScenarioName, number>;
  if (options.devices > 0 && Object.values(mix).every((weight) => weight <= 0)) throw new UsageError('the profile mix has no weight');
  if (options.devices > 0 && Object.values(scenarioWeights).every((weight) => weight <= 0)) throw new UsageError('the scenario mix has no weight');
  const profileCounts = apportion(mix, options.devices);
  const scenarioCounts = apportion(scenarioWeights, options.devices);
  const profiles = shuffledAssignment(profileCounts, random);
  const scenarios = shuffledAssignment(scenarioCounts, random);
  const slowReadMs = options.slowReadMs ?? 3000;
  const thinkMs = options.thinkMs ?? 2000;
  const specs: Array<DeviceSpec & { readMs: number; thinkMs: number; sloppy: boolean }> = profiles.map((name, index) => {
    const profile = PROFILES[name];
    const scenario = scenarios[index]!;
    const channel: ChannelPreference = options.channel === 'mix' ? profile.channel : options.channel;
    return {
      index: index + 1,
      profile,
      clientId: options.clients?.[name] ?? profile.defaultClientId,
      scenario,
      channel,
      readMs: scenario === 'slow-reader' ? Math.round(slowReadMs * (0.5 + random())) : 0,
      thinkMs: Math.round(thinkMs * (0.5 + random())),
      // One typed code in three is typed the lazy way (lower case, no dash).
      sloppy: random() < 1 / 3,
    };
  });
  return { specs, profileCounts, scenarioCounts };
}

/**
 * Runs a simulated fleet against a running appliance: every device on the real client library,
 * every person on the real pages, then the attack scenarios; returns the report.
 */
export async function runFleet(options: FleetOptions): Promise<FleetReport> {
  if (!Number.isInteger(options.devices) || options.devices < 0) throw new UsageError('devices must be a whole number ≥ 0');
  const { specs, profileCounts, scenarioCounts } = planFleet(options);
  const needsPeople = specs.some((spec) => decisionOf(spec.scenario) !== null) || (options.attacks?.length ?? 0) > 0;
  if (needsPeople && options.people.length === 0) throw new UsageError('the scenarios need people: give accounts (--users-file) or a data dir to create them in');
  const concurrency = Math.max(1, options.concurrency ?? Math.max(1, options.devices));
  const startedAt = new Date();
  const began = performance.now();
  const stats = createHttpStats();
  const fetch = countingFetch(stats, options.fetch);
  const errors = createErrorTally();
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error('the run took longer than its timeout')), options.timeoutMs ?? 15 * 60_000);

  const tasks = createWorkQueue<{ task: DecisionTask; result: DeviceResult; abandon(reason: string): void }>();
  const people = options.people.map((account) => createPerson(account, { fetch, sleep }));
  const workers = people.map(async (person) => {
    for (;;) {
      const next = await tasks.take();
      if (next === null) return;
      if (deadline.signal.aborted) continue;
      try {
        const timing = await person.decide(next.task);
        next.result.decidedAt = timing.clickedAt;
      } catch (error) {
        const kind = error instanceof PersonError ? error.kind : 'internal';
        const message = `${person.username} on device ${next.result.index}: ${error instanceof Error ? error.message : String(error)}`;
        errors.add(`person.${kind}`, message);
        // Nobody will decide this device's request now: end its wait instead of letting it expire.
        next.abandon(`person.${kind}: ${message}`);
      }
    }
  });

  const outcomes = Object.fromEntries(FLOW_OUTCOMES.map((outcome) => [outcome, 0])) as Record<FlowOutcome, number>;
  let done = 0;
  const report = () => options.onProgress?.({ done, total: specs.length, outcomes: { ...outcomes }, queuedForPeople: tasks.waiting });
  const gate = createSemaphore(concurrency);
  const pushTransports = createHandshakeGate();
  const results: DeviceResult[] = [];
  const flows: Promise<void>[] = [];
  report();
  for (const spec of specs) {
    await gate.acquire();
    if (deadline.signal.aborted) {
      gate.release();
      break;
    }
    const own = new AbortController();
    flows.push(
      runDevice(spec, {
        issuer: options.issuer,
        fetch,
        errors,
        pushTransports,
        signal: AbortSignal.any([deadline.signal, own.signal]),
        onCode(login: DeviceLogin, result) {
          const decision = decisionOf(spec.scenario);
          if (decision === null) return;
          setTimeout(() => {
            tasks.push({
              result,
              abandon: (reason) => own.abort(new Error(reason)),
              task: {
                userCode: login.userCode,
                verificationUri: login.verificationUri,
                ...(login.verificationUriComplete ? { verificationUriComplete: login.verificationUriComplete } : {}),
                decision,
                viaQr: spec.profile.approvedVia === 'qr',
                readMs: spec.readMs,
                sloppy: spec.sloppy,
              },
            });
          }, spec.thinkMs);
        },
      }).then((result) => {
        results.push(result);
        outcomes[result.outcome]++;
        done++;
        gate.release();
        report();
      }),
    );
  }
  await Promise.all(flows);
  if (deadline.signal.aborted) errors.add('fleet.timeout', `the run was stopped after ${Math.round((options.timeoutMs ?? 15 * 60_000) / 1000)} s with flows still waiting`);
  tasks.close();
  await Promise.all(workers);
  clearTimeout(timer);

  let attacks: AttackResult[] = [];
  if (options.attacks && options.attacks.length > 0) {
    attacks = await runAttacks(options.attacks, {
      issuer: options.issuer,
      clientId: options.clients?.tv ?? PROFILES.tv.defaultClientId,
      person: options.people[0]!,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    });
  }

  results.sort((a, b) => a.index - b.index);
  return buildReport({ options, specsCount: specs.length, concurrency, profileCounts, scenarioCounts, results, errors, stats, attacks, startedAt, durationMs: performance.now() - began });
}

function buildReport(input: {
  options: FleetOptions;
  specsCount: number;
  concurrency: number;
  profileCounts: Record<string, number>;
  scenarioCounts: Record<ScenarioName, number>;
  results: DeviceResult[];
  errors: ReturnType<typeof createErrorTally>;
  stats: ReturnType<typeof createHttpStats>;
  attacks: AttackResult[];
  startedAt: Date;
  durationMs: number;
}): FleetReport {
  const { options, results, errors, stats, attacks } = input;
  const zero = () => Object.fromEntries(FLOW_OUTCOMES.map((outcome) => [outcome, 0])) as Record<FlowOutcome, number>;
  const byOutcome = zero();
  const byScenario: Record<string, ScenarioTally> = {};
  for (const scenario of SCENARIO_NAMES) {
    if (input.scenarioCounts[scenario] > 0) byScenario[scenario] = { devices: 0, expected: EXPECTED_OUTCOME[scenario], outcomes: zero(), matched: 0 };
  }
  const byChannel: FleetReport['flows']['byChannel'] = {};
  const mismatches: Mismatch[] = [];
  const approvalToToken: number[] = [];
  const approvalByChannel: Record<string, number[]> = {};
  const denial: number[] = [];
  const startToCode: number[] = [];
  const codeToSubscribed: number[] = [];
  const toldVia: FleetReport['flows']['toldVia'] = {};
  let matched = 0;
  for (const result of results) {
    byOutcome[result.outcome]++;
    const tally = byScenario[result.scenario]!;
    tally.devices++;
    tally.outcomes[result.outcome]++;
    const channel = result.channel ?? 'none';
    const perChannel = (byChannel[channel] ??= {});
    (perChannel[result.scenario] ??= zero())[result.outcome]++;
    if (result.outcome === result.expected) {
      tally.matched++;
      matched++;
    } else if (mismatches.length < 50) {
      mismatches.push({ device: result.index, profile: result.profile, scenario: result.scenario, channel: result.channel, expected: result.expected, outcome: result.outcome, error: result.error });
    }
    if (result.codeShownAt !== null) startToCode.push(result.codeShownAt - result.startedAt);
    if (result.codeShownAt !== null && result.subscribedAt !== null) codeToSubscribed.push(result.subscribedAt - result.codeShownAt);
    if (result.outcome === 'approved' && result.via !== null) (toldVia[channel] ??= { push: 0, poll: 0 })[result.via]++;
    if (result.decidedAt !== null && result.outcome === 'approved' && result.tokenAt !== null) {
      const value = result.tokenAt - result.decidedAt;
      approvalToToken.push(value);
      (approvalByChannel[channel] ??= []).push(value);
    }
    if (result.decidedAt !== null && result.outcome === 'denied' && result.toldAt !== null) denial.push(result.toldAt - result.decidedAt);
  }
  const serverErrorsTotal = count5xx(stats);
  const ok = matched === results.length && results.length === input.specsCount && errors.total === 0 && serverErrorsTotal === 0 && attacks.every((attack) => attack.held);
  return {
    tool: 'devicegate-sim',
    reportVersion: 1,
    issuer: options.issuer,
    startedAt: input.startedAt.toISOString(),
    durationMs: Math.round(input.durationMs),
    settings: {
      devices: options.devices,
      concurrency: input.concurrency,
      people: options.people.length,
      channel: options.channel,
      seed: options.seed ?? 1,
      slowReadMs: options.slowReadMs ?? 3000,
      thinkMs: options.thinkMs ?? 2000,
      profiles: input.profileCounts,
      scenarios: input.scenarioCounts,
      clients: Object.fromEntries(PROFILE_NAMES.map((name) => [name, options.clients?.[name] ?? PROFILES[name].defaultClientId])),
    },
    flows: { total: results.length, matched, byOutcome, byScenario, byChannel, toldVia },
    latency: {
      approvalToToken: summarize(approvalToToken),
      approvalToTokenByChannel: Object.fromEntries(Object.entries(approvalByChannel).sort().map(([channel, values]) => [channel, summarize(values)])),
      denialToDevice: summarize(denial),
      startToCode: summarize(startToCode),
      codeToSubscribed: summarize(codeToSubscribed),
    },
    errors: { total: errors.total, byKind: errors.byKind(), samples: errors.samples() },
    http: { ...stats, serverErrorsTotal, rateLimitedTotal: count429(stats) },
    mismatches,
    attacks,
    ok,
  };
}
