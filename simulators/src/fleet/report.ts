import Table from 'cli-table3';
import type { AttackResult } from '../attacks/index.ts';
import type { HttpStats } from '../http.ts';
import type { LatencySummary } from '../stats.ts';
import type { FlowOutcome, ScenarioName } from './scenarios.ts';

export const FLOW_OUTCOMES: readonly FlowOutcome[] = ['approved', 'denied', 'expired', 'error'];

export interface ScenarioTally {
  devices: number;
  expected: Exclude<FlowOutcome, 'error'>;
  outcomes: Record<FlowOutcome, number>;
  matched: number;
}

export interface Mismatch {
  device: number;
  profile: string;
  scenario: ScenarioName;
  channel: string | null;
  expected: string;
  outcome: FlowOutcome;
  error: string | null;
}

/** The JSON report (`--json`), also what `runFleet` returns. Times in milliseconds. */
export interface FleetReport {
  tool: 'devicegate-sim';
  reportVersion: 1;
  issuer: string;
  startedAt: string;
  durationMs: number;
  settings: {
    devices: number;
    concurrency: number;
    people: number;
    channel: string;
    seed: number;
    slowReadMs: number;
    thinkMs: number;
    profiles: Record<string, number>;
    scenarios: Record<string, number>;
    clients: Record<string, string>;
  };
  flows: {
    total: number;
    matched: number;
    byOutcome: Record<FlowOutcome, number>;
    byScenario: Record<string, ScenarioTally>;
    /** Outcomes per waiting channel, and per scenario within it. */
    byChannel: Record<string, Record<string, Record<FlowOutcome, number>>>;
    /** How approved devices learned of the approval, per channel: the push, or their own poll. */
    toldVia: Record<string, { push: number; poll: number }>;
  };
  latency: {
    /** Person pressed Approve → the device holds its tokens. */
    approvalToToken: LatencySummary;
    approvalToTokenByChannel: Record<string, LatencySummary>;
    /** Person pressed Deny → the device knows (access_denied). */
    denialToDevice: LatencySummary;
    /** Device switched on → its code on screen (discovery + device authorization). */
    startToCode: LatencySummary;
    /** Code on screen → push channel subscribed (WebSocket and MQTT devices). */
    codeToSubscribed: LatencySummary;
  };
  errors: { total: number; byKind: Record<string, number>; samples: Array<{ kind: string; message: string }> };
  http: HttpStats & { serverErrorsTotal: number; rateLimitedTotal: number };
  mismatches: Mismatch[];
  attacks: AttackResult[];
  /** Every flow as its scenario says, no error, no 5xx, every attack held. */
  ok: boolean;
}

/** Plain tables: no colour codes, so the output reads the same in a log file. */
const plain = { style: { head: [] as string[], border: [] as string[] } };

const ms = (value: number | null) => (value === null ? '-' : `${value} ms`);

/** The tables printed at the end of a run. */
export function renderReport(report: FleetReport): string {
  const parts: string[] = [];
  const { settings, flows } = report;
  parts.push(
    `devicegate-sim fleet: ${flows.total} devices against ${report.issuer} in ${(report.durationMs / 1000).toFixed(1)} s ` +
      `(concurrency ${settings.concurrency}, ${settings.people} people, channel ${settings.channel}, seed ${settings.seed})`,
  );
  if (flows.total > 0) {
    const byScenario = new Table({ ...plain, head: ['scenario', 'devices', 'expected', ...FLOW_OUTCOMES, 'as expected'] });
    for (const [scenario, tally] of Object.entries(flows.byScenario)) {
      byScenario.push([scenario, tally.devices, tally.expected, ...FLOW_OUTCOMES.map((outcome) => tally.outcomes[outcome]), `${tally.matched}/${tally.devices}`]);
    }
    byScenario.push(['all', flows.total, '', ...FLOW_OUTCOMES.map((outcome) => flows.byOutcome[outcome]), `${flows.matched}/${flows.total}`]);
    parts.push('Flows by outcome', byScenario.toString());

    const latency = new Table({ ...plain, head: ['time', 'count', 'p50', 'p95', 'p99', 'max'] });
    const row = (label: string, summary: LatencySummary) => latency.push([label, summary.count, ms(summary.p50), ms(summary.p95), ms(summary.p99), ms(summary.max)]);
    row('approval → token', report.latency.approvalToToken);
    for (const [channel, summary] of Object.entries(report.latency.approvalToTokenByChannel)) row(`  on ${channel}`, summary);
    row('denial → device told', report.latency.denialToDevice);
    row('switch-on → code shown', report.latency.startToCode);
    row('code shown → push subscribed', report.latency.codeToSubscribed);
    parts.push('Latency', latency.toString());
    const told = Object.entries(flows.toldVia).map(([channel, via]) => `${channel}: ${via.push} by push, ${via.poll} by polling`);
    if (told.length) parts.push(`Approved devices were told: ${told.join('; ')}`);
  }

  const errors = new Table({ ...plain, head: ['errors by kind', 'count'] });
  const kinds = Object.entries(report.errors.byKind);
  if (kinds.length === 0) errors.push(['none', 0]);
  for (const [kind, count] of kinds) errors.push([kind, count]);
  errors.push(['server 5xx answers', report.http.serverErrorsTotal]);
  errors.push(['429 (abuse limits)', report.http.rateLimitedTotal]);
  errors.push(['HTTP requests in all', report.http.requests]);
  parts.push(errors.toString());
  for (const sample of report.errors.samples.slice(0, 6)) parts.push(`  ${sample.kind}: ${sample.message}`);
  for (const mismatch of report.mismatches.slice(0, 6)) {
    parts.push(`  device ${mismatch.device} (${mismatch.profile}, ${mismatch.scenario}, ${mismatch.channel ?? '-'}): expected ${mismatch.expected}, got ${mismatch.outcome}${mismatch.error ? `: ${mismatch.error}` : ''}`);
  }

  if (report.attacks.length > 0) {
    const attacks = new Table({ ...plain, head: ['attack', 'defence', 'what happened'], colWidths: [22, 10, 80], wordWrap: true });
    for (const attack of report.attacks) attacks.push([attack.name, attack.held ? 'held' : 'FAILED', attack.summary]);
    parts.push('Attacks', attacks.toString());
  }
  parts.push(report.ok ? 'Result: OK' : 'Result: FAILED (see above)');
  return `${parts.join('\n')}\n`;
}
