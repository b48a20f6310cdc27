// The bench's markdown: one table, each figure beside the bare Node server's where a ratio means
// something (throughput; memory per waiting device beside its push library alone), and the goals
// of docs/performance.md#goals marked met or missed.
import type { LatencySummary } from '@devicegate/simulators';
import type { DeviceClientFigures } from './device-client-start.ts';
import type { LoadResult, MemorySample } from './processes.ts';

type Throughput = LoadResult & { perInstance?: number[] };
type HotEndpoint = 'jwks' | 'deviceAuthorization' | 'pendingPolls' | 'refresh' | 'introspection' | 'userinfo';

/**
 * The goals of docs/performance.md#goals for the hot endpoints: requests per second at least
 * `versusPeer` times the peer's in the same run, and server CPU per request at most `cpuTimesBare`
 * times the bare server's.
 */
const HOT_GOALS: Array<{ key: HotEndpoint; label: string; versusPeer: number; cpuTimesBare?: number }> = [
  { key: 'deviceAuthorization', label: 'device authorization', versusPeer: 2, cpuTimesBare: 2.5 },
  { key: 'pendingPolls', label: 'pending polls', versusPeer: 2, cpuTimesBare: 2 },
  { key: 'refresh', label: 'refresh', versusPeer: 2, cpuTimesBare: 6 },
  { key: 'introspection', label: 'introspection', versusPeer: 2, cpuTimesBare: 3 },
  { key: 'userinfo', label: 'userinfo', versusPeer: 2 },
  { key: 'jwks', label: 'JWKS', versusPeer: 2 },
];
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
  /** The appliance process before the devices came and once they all waited (raw samples). */
  memoryBefore?: MemorySample;
  memoryAfter?: MemorySample;
  approvalToTold: LatencySummary;
  approvalToToken: LatencySummary;
  consentRequestMs: LatencySummary;
  missed: number;
  failures: number;
  firstFailure: string;
}

/** A push channel's library alone holding the same number of waiting connections (bare-push-server.mjs). */
export interface PushReferenceFigures {
  server: 'ws' | 'aedes';
  channel: 'websocket' | 'mqtt';
  connections: number;
  subscribed: number;
  setupSeconds: number;
  memoryPerConnection: PerItem;
  memoryBefore: MemorySample;
  memoryAfter: MemorySample;
  failures: number;
  firstFailure: string;
}

/** PostgreSQL round trips (ReadyForQuery messages) per request, counted by a proxy in front of the server. */
export interface RoundTripFigures {
  deviceAuthorization: { oneAtATime: number; fiftyInFlight: number };
  pendingPoll: { oneAtATime: number; fiftyInFlight: number };
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
  throughput: Partial<Record<'bare' | HotEndpoint, Throughput>>;
  /** The same hot endpoints on the peer (oidc-provider, peer-process.ts), alternating with the appliance's; null when not run. */
  peer: Partial<Record<HotEndpoint, Throughput>> | null;
  push: PushFigures[];
  pushReference: PushReferenceFigures[];
  memory: { perPendingGrant?: PerItem };
  deviceClient: DeviceClientFigures[];
  postgres:
    | { status: string }
    | { status: 'measured'; one: Record<'deviceAuthorization' | 'pendingPolls', Throughput>; two: Record<'deviceAuthorization' | 'pendingPolls', Throughput>; roundTrips?: RoundTripFigures };
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

/**
 * The hot endpoints beside the peer and the bare server, measured in the same run (alternating
 * with the peer per endpoint): req/s and server CPU per request of each, devicegate ÷ peer and
 * devicegate ÷ bare in req/s, devicegate's CPU per request as a multiple of the bare server's,
 * and the goals met or missed.
 */
function comparison(results: BenchResults, lines: string[]): void {
  const bare = results.throughput.bare;
  const peer = results.peer ?? {};
  const figure = (result: Throughput | undefined) => (result ? `${number(result.requestsPerSecond)}; ${result.serverCpuMicros === undefined ? '-' : number(result.serverCpuMicros)} µs` : '-');
  const times = (value: number) => `${value < 10 ? value.toFixed(2) : value.toFixed(1)}×`;
  const rows = HOT_GOALS.filter(({ key }) => results.throughput[key] || peer[key]);
  if (!rows.length) return;
  lines.push('');
  lines.push('Hot endpoints, devicegate beside the peer (oidc-provider, in memory) and the bare server, same run, alternating per endpoint (req/s; server CPU per request):');
  lines.push('');
  lines.push('| endpoint | devicegate | oidc-provider | devicegate ÷ peer (req/s) | devicegate ÷ bare (req/s) | CPU × bare | goal |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- |');
  for (const { key, label, versusPeer, cpuTimesBare } of rows) {
    const ours = results.throughput[key];
    const theirs = peer[key];
    const versus = ours && theirs ? ours.requestsPerSecond / theirs.requestsPerSecond : null;
    const cpuMultiple = ours?.serverCpuMicros !== undefined && bare?.serverCpuMicros ? ours.serverCpuMicros / bare.serverCpuMicros : null;
    const mark = (met: boolean | null) => (met === null ? 'not measured' : met ? '✅ met' : '❌ missed');
    const goals = [`≥ ${versusPeer}× peer ${mark(versus === null ? null : versus >= versusPeer)}`];
    if (cpuTimesBare !== undefined) goals.push(`CPU ≤ ${cpuTimesBare}× bare ${mark(cpuMultiple === null ? null : cpuMultiple <= cpuTimesBare)}`);
    lines.push(
      `| ${label} | ${figure(ours)} | ${figure(theirs)} | ${versus === null ? '-' : times(versus)} | ${ours && bare ? (ours.requestsPerSecond / bare.requestsPerSecond).toFixed(2) : '-'} | ${cpuMultiple === null ? '-' : times(cpuMultiple)} | ${goals.join('; ')} |`,
    );
  }
  if (bare) lines.push(`| bare Node \`http\` (reference) | ${figure(bare)} | | | 1.00 | 1× | |`);
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
  comparison(results, lines);
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
  throughputRow('Userinfo (bearer access token)', results.throughput.userinfo);
  const peerLabel = (what: string) => `Peer oidc-provider: ${what}`;
  const peer = results.peer ?? {};
  throughputRow(peerLabel('JWKS'), peer.jwks);
  throughputRow(peerLabel('device authorization'), peer.deviceAuthorization);
  throughputRow(peerLabel('token polls of pending codes (400 = authorization_pending; it never answers slow_down)'), peer.pendingPolls);
  throughputRow(peerLabel('refresh (rotation, one chain per connection)'), peer.refresh);
  throughputRow(peerLabel('introspection of its opaque access tokens (client_secret_basic)'), peer.introspection);
  throughputRow(peerLabel('userinfo (bearer access token)'), peer.userinfo);

  for (const push of results.push) {
    const where = `${number(push.devices)} waiting on ${push.channel === 'websocket' ? 'WebSocket' : 'MQTT'}`;
    const goal = push.devices >= 10_000 ? `p99 < 10 ms ${push.approvalToTold.p99 !== null && push.approvalToTold.p99 < 10 ? '✅ met' : '❌ missed'}` : '';
    const missed = push.missed ? `; ${push.missed} told by polling, not push` : '';
    row(`Approval → device told, ${where}`, `p50 ${ms(push.approvalToTold.p50)}, p99 ${ms(push.approvalToTold.p99)} (${push.approvalToTold.count} approvals through the pages${missed})`, '—', goal);
    row(`Approval → device holds tokens, ${where}`, `p50 ${ms(push.approvalToToken.p50)}, p99 ${ms(push.approvalToToken.p99)}`);
  }
  const pending = results.memory.perPendingGrant;
  if (pending) row('Server memory per pending grant', `${bytes(pending.rssBytes)} RSS, ${bytes(pending.heapBytes)} heap + external (${number(pending.count)} grants; the grant itself is in SQLite, RSS includes its page cache)`);
  const referenceRow = (reference: PushReferenceFigures) => {
    const perConnection = reference.memoryPerConnection;
    const rss = perConnection.rssBytes < 0 ? 'RSS shrank (noise at this size)' : `${bytes(perConnection.rssBytes)} RSS`;
    const failed = reference.failures ? `; ${number(reference.failures)} failed: ${reference.firstFailure}` : '';
    row(
      `Bare \`${reference.server}\` ${reference.server === 'ws' ? 'server' : 'broker'}, ${number(reference.connections)} connections (reference)`,
      `${rss}, ${bytes(perConnection.heapBytes)} heap + external per connection (${number(reference.subscribed)} subscribed in ${reference.setupSeconds} s${failed})`,
      '1×',
    );
  };
  const references = results.pushReference ?? [];
  const shown = new Set<PushReferenceFigures>();
  // The appliance's figure as a multiple of its library's alone (RSS, then heap + external);
  // a figure that shrank or a floor at or below zero gives no ratio.
  const times = (value: number, floor: number) => (value > 0 && floor > 0 ? `${(value / floor).toFixed(1)}×` : '-');
  for (const push of results.push) {
    const reference = references.find((candidate) => candidate.channel === push.channel && candidate.connections === push.devices);
    if (reference) {
      referenceRow(reference);
      shown.add(reference);
    }
    const perDevice = push.memoryPerDevice;
    const versus = reference
      ? `${times(perDevice.rssBytes, reference.memoryPerConnection.rssBytes)} RSS, ${times(perDevice.heapBytes, reference.memoryPerConnection.heapBytes)} heap of ${reference.server} alone`
      : '—';
    // Judged at 10,000 devices only, on both figures: at 1,000 the process's own growth (JIT,
    // buffers, what GC hands back to the OS) swamps the per-device part, RSS can even shrink.
    const worst = Math.max(perDevice.rssBytes, perDevice.heapBytes);
    const goal = push.devices >= 10_000 ? `< 2 KB ${worst < 2048 ? '✅ met' : '❌ missed'}` : '';
    const rss = perDevice.rssBytes < 0 ? 'RSS shrank (noise at this size)' : `${bytes(perDevice.rssBytes)} RSS`;
    row(
      `Server memory per waiting device, ${number(push.devices)} on ${push.channel === 'websocket' ? 'WebSocket' : 'MQTT'}`,
      `${rss}, ${bytes(perDevice.heapBytes)} heap + external (connection and pending grant; ${number(push.subscribed)} subscribed in ${push.setupSeconds} s)`,
      versus,
      goal,
    );
  }
  // References whose appliance run is missing (--only push-reference, or a failed run).
  for (const reference of references) if (!shown.has(reference)) referenceRow(reference);
  for (const figures of results.deviceClient) {
    row(`Device client: start → code shown, ${figures.variant}`, `p50 ${ms(figures.startToCode.p50)}, max ${ms(figures.startToCode.max)} (${figures.startToCode.count} runs); peak RSS ${(figures.peakRss / 2 ** 20).toFixed(0)} MiB`);
  }
  if ('one' in results.postgres) {
    const { one, two } = results.postgres;
    throughputRow('PostgreSQL, 1 instance: device authorization', one.deviceAuthorization);
    throughputRow('PostgreSQL, 2 instances: device authorization', two.deviceAuthorization);
    throughputRow('PostgreSQL, 1 instance: token polls of pending codes', one.pendingPolls);
    throughputRow('PostgreSQL, 2 instances: token polls of pending codes', two.pendingPolls);
    const trips = results.postgres.roundTrips;
    if (trips) {
      const tripsRow = (what: string, figures: { oneAtATime: number; fiftyInFlight: number }, most: number) =>
        row(
          `PostgreSQL round trips per ${what}`,
          `${figures.oneAtATime} one at a time, ${figures.fiftyInFlight} with 50 in flight (counted by a proxy in front of the server: one ReadyForQuery each)`,
          '—',
          `≤ ${most} ${Math.max(figures.oneAtATime, figures.fiftyInFlight) <= most ? '✅ met' : '❌ missed'}`,
        );
      tripsRow('device authorization', trips.deviceAuthorization, 2);
      tripsRow('pending poll', trips.pendingPoll, 1);
    }
  } else {
    row('PostgreSQL, 1 and 2 instances', results.postgres.status);
  }
  lines.push('');
  for (const note of results.notes) lines.push(`- ${note}`);
  if (results.notes.length) lines.push('');
  lines.push(
    'Figures: requests per second over the measured seconds; p50/p99 of autocannon; server CPU = user + system time of the server process per request answered (steadier than req/s on a busy machine). ' +
      'Approval → device: from sending the consent form with Approve to the device client\'s `approved` event (push) and to its tokens. ' +
      'Memory: the appliance process after two full GCs, before and after. ' +
      'Memory references: the same number of connections held on the push library alone, in a process of its own measured the same way, the clients in another: ' +
      'a bare `ws` WebSocketServer with the appliance\'s options (noServer, no client tracking, no compression, 4 KiB max payload) on a bare `http` server, each connection sending one subscribe frame and answered one small frame; ' +
      'a bare aedes broker (the appliance\'s copy and options, hooks that accept) on a plain `net` server, each mqtt.js client connecting (clean session) and subscribing at QoS 1 to one `devicegate/grants/<push key>` topic. ' +
      'An RSS difference also depends on what the process had already reserved and freed (the appliance starts with more to reuse than a bare server), so heap + external is the closer comparison. ' +
      'Two PostgreSQL instances each get half the connections; the sum is shown.',
  );
  lines.push('');
  lines.push('Reproduce: `npm ci && npm run bench` (about 9-10 minutes on 2 cores). Raw figures: `bench/results/latest.json`.');
  lines.push('');
  return lines.join('\n');
}
