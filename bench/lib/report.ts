// The bench's markdown: one table, each figure beside the bare Node server's where a ratio means
// something (throughput), and the goals of issue 6 marked met or missed.
import type { LatencySummary } from '@devicegate/simulators';
import type { DeviceClientFigures } from './device-client-start.ts';
import type { LoadResult } from './processes.ts';

type Throughput = LoadResult & { perInstance?: number[] };
interface PerItem {
  count: number;
  rssBytes: number;
  heapBytes: number;
}

export interface PushFigures {
  channel: 'websocket' | 'mqtt';
  devices: number;
  subscribed: number;
  setupSeconds: number;
  memoryPerDevice: PerItem;
  approvalToTold: LatencySummary;
  approvalToToken: LatencySummary;
  consentRequestMs: LatencySummary;
  missed: number;
  failures: number;
  firstFailure: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt?: string;
  environment: {
    node: string;
    cpu: string;
    cores: number;
    memoryGiB: number;
    loadAverageAtStart: number[];
    commit: string;
    settings: Record<string, unknown>;
  };
  throughput: Partial<Record<'bare' | 'jwks' | 'deviceAuthorization' | 'pendingPolls' | 'refresh' | 'introspection', Throughput>>;
  push: PushFigures[];
  memory: { perPendingGrant?: PerItem };
  deviceClient: DeviceClientFigures[];
  postgres:
    | { status: string }
    | { status: 'measured'; one: Record<'deviceAuthorization' | 'pendingPolls', Throughput>; two: Record<'deviceAuthorization' | 'pendingPolls', Throughput> };
  notes: string[];
}

const number = (value: number) => Math.round(value).toLocaleString('en-US');
const ms = (value: number | null) => (value === null ? '-' : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`);
const bytes = (value: number) => (Math.abs(value) >= 10_240 ? `${(value / 1024).toFixed(1)} KiB` : `${number(value)} B`);

function statuses(result: Throughput): string {
  return Object.entries(result.statusCodes ?? {})
    .map(([code, { count }]) => `${code}×${number(count)}`)
    .join(' ');
}

export function renderMarkdown(results: BenchResults): string {
  const lines: string[] = [];
  const env = results.environment;
  lines.push(`# devicegate bench, ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC`);
  lines.push('');
  lines.push(
    `Commit ${env.commit}, Node ${env.node}, ${env.cores} × ${env.cpu}, ${env.memoryGiB} GiB; load average at start ${env.loadAverageAtStart.join(' / ')}. ` +
      `Each load generator (autocannon, ${String(env.settings.connections)} connections, ${String(env.settings.warmup)} s warm-up + ${String(env.settings.duration)} s) runs in its own process; ` +
      'servers on 127.0.0.1; the appliance in its default configuration (log level info) except abuse limits raised for one loopback address.',
  );
  lines.push('');
  lines.push('| What | Figure | vs bare server | Goal |');
  lines.push('| --- | --- | --- | --- |');
  const bare = results.throughput.bare;
  const ratio = (value: number) => (bare ? `${(value / bare.requestsPerSecond).toFixed(2)}` : '-');
  const row = (what: string, figure: string, versus = '—', goal = '') => lines.push(`| ${what} | ${figure} | ${versus} | ${goal} |`);
  const throughputRow = (what: string, result: Throughput | undefined, goalRatio?: number) => {
    if (!result) return;
    const met = goalRatio === undefined || !bare ? '' : `≥ ${goalRatio.toFixed(2)} ${result.requestsPerSecond / bare.requestsPerSecond >= goalRatio ? '✅ met' : '❌ missed'}`;
    const split = result.perInstance ? ` (${result.perInstance.map(number).join(' + ')})` : '';
    const cpu = result.serverCpuMicros === undefined ? '' : `; server CPU ${number(result.serverCpuMicros)} µs/req`;
    row(what, `${number(result.requestsPerSecond)} req/s${split}, p50 ${ms(result.latency.p50)}, p99 ${ms(result.latency.p99)}${cpu}; ${statuses(result)}${result.errors ? `, ${result.errors} errors` : ''}${result.timeouts ? `, ${result.timeouts} timeouts` : ''}`, ratio(result.requestsPerSecond), met);
  };
  throughputRow('Bare Node `http` server (reference)', bare);
  throughputRow('JWKS `GET /oauth/jwks`', results.throughput.jwks);
  throughputRow('Device authorization', results.throughput.deviceAuthorization, 0.5);
  throughputRow('Token polls of pending codes (400 = authorization_pending / slow_down)', results.throughput.pendingPolls, 0.5);
  throughputRow('Refresh (rotation, one chain per connection)', results.throughput.refresh);
  throughputRow('Introspection (client_secret_basic)', results.throughput.introspection);

  for (const push of results.push) {
    const where = `${number(push.devices)} waiting on ${push.channel === 'websocket' ? 'WebSocket' : 'MQTT'}`;
    const goal = push.devices >= 10_000 ? `p99 < 10 ms ${push.approvalToTold.p99 !== null && push.approvalToTold.p99 < 10 ? '✅ met' : '❌ missed'}` : '';
    const missed = push.missed ? `; ${push.missed} told by polling, not push` : '';
    row(`Approval → device told, ${where}`, `p50 ${ms(push.approvalToTold.p50)}, p99 ${ms(push.approvalToTold.p99)} (${push.approvalToTold.count} approvals through the pages${missed})`, '—', goal);
    row(`Approval → device holds tokens, ${where}`, `p50 ${ms(push.approvalToToken.p50)}, p99 ${ms(push.approvalToToken.p99)}`);
  }
  const pending = results.memory.perPendingGrant;
  if (pending) row('Server memory per pending grant', `${bytes(pending.rssBytes)} RSS, ${bytes(pending.heapBytes)} heap + external (${number(pending.count)} grants; the grant itself is in SQLite, RSS includes its page cache)`);
  for (const push of results.push) {
    const perDevice = push.memoryPerDevice;
    // Judged at 10,000 devices only, on both figures: at 1,000 the process's own growth (JIT,
    // buffers, what GC hands back to the OS) swamps the per-device part, RSS can even shrink.
    const worst = Math.max(perDevice.rssBytes, perDevice.heapBytes);
    const goal = push.devices >= 10_000 ? `< 2 KB ${worst < 2048 ? '✅ met' : '❌ missed'}` : '';
    const rss = perDevice.rssBytes < 0 ? 'RSS shrank (noise at this size)' : `${bytes(perDevice.rssBytes)} RSS`;
    row(
      `Server memory per waiting device, ${number(push.devices)} on ${push.channel === 'websocket' ? 'WebSocket' : 'MQTT'}`,
      `${rss}, ${bytes(perDevice.heapBytes)} heap + external (connection and pending grant; ${number(push.subscribed)} subscribed in ${push.setupSeconds} s)`,
      '—',
      goal,
    );
  }
  for (const figures of results.deviceClient) {
    row(`Device client: start → code shown, ${figures.variant}`, `p50 ${ms(figures.startToCode.p50)}, max ${ms(figures.startToCode.max)} (${figures.startToCode.count} runs); peak RSS ${(figures.peakRss / 2 ** 20).toFixed(0)} MiB`);
  }
  if ('one' in results.postgres) {
    const { one, two } = results.postgres;
    throughputRow('PostgreSQL, 1 instance: device authorization', one.deviceAuthorization);
    throughputRow('PostgreSQL, 2 instances: device authorization', two.deviceAuthorization);
    throughputRow('PostgreSQL, 1 instance: token polls of pending codes', one.pendingPolls);
    throughputRow('PostgreSQL, 2 instances: token polls of pending codes', two.pendingPolls);
  } else {
    row('PostgreSQL, 1 and 2 instances', results.postgres.status);
  }
  lines.push('');
  for (const note of results.notes) lines.push(`- ${note}`);
  if (results.notes.length) lines.push('');
  lines.push(
    'Figures: requests per second over the measured seconds; p50/p99 of autocannon; server CPU = user + system time of the server process per request answered (steadier than req/s on a busy machine). ' +
      'Approval → device: from sending the consent form with Approve to the device client\'s `approved` event (push) and to its tokens. ' +
      'Memory: the appliance process after two full GCs, before and after. Two PostgreSQL instances each get half the connections; the sum is shown.',
  );
  lines.push('');
  lines.push('Reproduce: `npm ci && npm run bench` (3-7 minutes on 2 cores). Raw figures: `bench/results/latest.json`.');
  lines.push('');
  return lines.join('\n');
}
