// `npm run bench`: every figure of docs/performance.md#goals in one run, each load generator in a
// process of its own, every server on 127.0.0.1, every loop bounded. Writes bench/results/latest.md
// (and a dated copy, and latest.json) and prints the table. See bench/README.md.
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { measureDeviceClient } from './device-client-start.ts';
import { benchDir, killAll, memoryOf, next, repoDir, runLoadMeasuringCpu, startChild, track, type Child, type LoadResult, type MemorySample } from './processes.ts';
import { renderMarkdown, type BenchResults, type RoundTripFigures } from './report.ts';
import { peerTokensFor, type PeerEndpoints } from './peer-pages.ts';
import type { PeerSpec } from './peer-process.ts';
import { createPendingCodes, POLL_CLIENT, PUSH_CLIENT, PERSON, RESOURCE_SERVER, startBenchAppliance, tokensFor, type PendingCode } from './setup.ts';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    'push-devices': { type: 'string', default: '1000,10000' },
    'push-channels': { type: 'string', default: 'websocket,mqtt' },
    samples: { type: 'string', default: '200' },
    only: { type: 'string' },
    /** Only these throughput figures (appliance and peer): jwks,device-authorization,polls,refresh,introspection,userinfo. */
    endpoints: { type: 'string' },
    'time-limit': { type: 'string', default: '660' },
    'cpu-prof-dir': { type: 'string' },
  },
});
/** With --cpu-prof-dir, each load run of the appliance leaves a V8 CPU profile of that run there. */
const profileDir = flags['cpu-prof-dir'] ? path.resolve(flags['cpu-prof-dir']) : null;
if (profileDir) mkdirSync(profileDir, { recursive: true });
let profileCount = 0;
const duration = Number(flags.duration);
const warmup = Number(flags.warmup);
const connections = Number(flags.connections);
const pushSizes = flags['push-devices']!.split(',').map(Number).filter((n) => n > 0);
const samples = Number(flags.samples);
const only = flags.only ? new Set(flags.only.split(',')) : null;
const wanted = (part: string) => only === null || only.has(part);
const endpoints = flags.endpoints ? new Set(flags.endpoints.split(',')) : null;
const endpointWanted = (name: string) => endpoints === null || endpoints.has(name);
const say = (text: string) => process.stderr.write(`bench: ${text}\n`);

const results: BenchResults = {
  startedAt: new Date().toISOString(),
  environment: {
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverageAtStart: os.loadavg().map((n) => Math.round(n * 10) / 10),
    commit: gitCommit(),
    settings: { duration, warmup, connections, pushSizes, samples },
  },
  throughput: {},
  peer: null,
  push: [],
  pushReference: [],
  memory: {},
  deviceClient: [],
  postgres: { status: 'not run' },
  notes: [],
};

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: benchDir, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

// The whole run is bounded: past the limit every child is ended and what was measured is written.
const limitSeconds = Number(flags['time-limit']);
const overall = setTimeout(() => {
  results.notes.push(`The run hit its time limit (${limitSeconds} s); figures after that point are missing.`);
  killAll();
  finish(1);
}, limitSeconds * 1000);

const load = (server: Child<unknown>, url: string, job: Record<string, unknown>, name = 'appliance'): Promise<LoadResult> => {
  const profile = profileDir && server !== bareServer ? path.join(profileDir, `${String(++profileCount).padStart(2, '0')}-${name}${new URL(url).pathname.replace(/\W+/g, '-')}.cpuprofile`) : undefined;
  return runLoadMeasuringCpu(server, { url, connections, durationSeconds: duration, warmupSeconds: warmup, ...job }, profile);
};
let bareServer: Child<unknown> | undefined;

const perItem = (before: MemorySample, after: MemorySample, count: number) => ({
  count,
  rssBytes: Math.round((after.rss - before.rss) / count),
  heapBytes: Math.round((after.heapUsed + after.external - before.heapUsed - before.external) / count),
});

const form = { 'content-type': 'application/x-www-form-urlencoded' };
const pollBody = (code: PendingCode, clientId = POLL_CLIENT) =>
  new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: code.deviceCode, client_id: clientId }).toString();

async function bare(): Promise<void> {
  say('bare Node http server');
  const server = await startChild<{ url: string }>(path.join(benchDir, 'lib', 'hello-server.mjs'), { execArgv: [] });
  bareServer = server;
  try {
    results.throughput.bare = await load(server, server.ready.url, { kind: 'fixed', method: 'GET' });
  } finally {
    await server.stop();
  }
}

/** The hot endpoints, in the order they run; `flag` is their --endpoints name. */
const HOT_ENDPOINTS = [
  { flag: 'jwks', key: 'jwks' },
  { flag: 'device-authorization', key: 'deviceAuthorization' },
  { flag: 'polls', key: 'pendingPolls' },
  { flag: 'refresh', key: 'refresh' },
  { flag: 'introspection', key: 'introspection' },
  { flag: 'userinfo', key: 'userinfo' },
] as const;
type HotEndpoint = (typeof HOT_ENDPOINTS)[number]['key'];

/** One server the hot endpoints are measured on: the appliance or the peer. */
interface Side {
  name: 'appliance' | 'peer';
  child: Child<unknown>;
  out: Partial<Record<HotEndpoint, LoadResult>>;
  urls: { jwks: string; deviceAuthorization: string; token: string; introspection: string; userinfo: string };
  /** `count` fresh device codes of the polling client at this server. */
  codes(count: number): Promise<PendingCode[]>;
  /** Approves each code through this server's own pages and redeems it. */
  approve(codes: PendingCode[]): Promise<Array<Record<string, string>>>;
}

async function startPeer(): Promise<{ side: Side; stop(): Promise<void> }> {
  const spec: PeerSpec = { deviceClientId: POLL_CLIENT, resourceServer: RESOURCE_SERVER, person: PERSON };
  const peer = await startChild<{ url: string; endpoints: PeerEndpoints }>(path.join(benchDir, 'lib', 'peer-process.ts'), {
    env: { BENCH_PEER: JSON.stringify(spec) },
    execArgv: ['--expose-gc'],
  });
  const urls = peer.ready.endpoints;
  results.peer = {};
  return {
    side: {
      name: 'peer',
      child: peer,
      out: results.peer,
      urls,
      codes: (count) => createPendingCodes(peer.ready.url, POLL_CLIENT, count, 32, urls.deviceAuthorization),
      approve: (codes) => peerTokensFor(urls, POLL_CLIENT, PERSON, codes),
    },
    stop: () => peer.stop(),
  };
}

/**
 * The hot endpoints on the appliance and on the peer, alternating per endpoint (which goes first
 * alternates too), so each pair of figures meets the machine in the same minutes.
 */
async function hotEndpoints(): Promise<void> {
  const withAppliance = wanted('appliance');
  const withPeer = wanted('peer');
  const appliance = withAppliance ? await startBenchAppliance() : undefined;
  let peer: Awaited<ReturnType<typeof startPeer>> | undefined;
  /** Each side's 5,000 pending codes, for the polls. */
  const pending = new Map<Side['name'], PendingCode[]>();
  try {
    const sides: Side[] = [];
    if (appliance) {
      const { issuer } = appliance;
      sides.push({
        name: 'appliance',
        child: appliance.child,
        out: results.throughput,
        urls: { jwks: `${issuer}/oauth/jwks`, deviceAuthorization: `${issuer}/oauth/device_authorization`, token: `${issuer}/oauth/token`, introspection: `${issuer}/oauth/introspect`, userinfo: `${issuer}/oauth/userinfo` },
        codes: (count) => createPendingCodes(issuer, POLL_CLIENT, count),
        approve: (codes) => tokensFor(issuer, POLL_CLIENT, codes),
      });
      // Memory per pending grant first, on a fresh appliance.
      say('appliance on SQLite');
      const pendingCount = 5000;
      const before = await memoryOf(appliance.child);
      pending.set('appliance', await sides[0]!.codes(pendingCount));
      results.memory.perPendingGrant = perItem(before, await memoryOf(appliance.child), pendingCount);
    }
    if (withPeer) {
      say('peer: oidc-provider, in memory');
      peer = await startPeer();
      sides.push(peer.side);
      pending.set('peer', await peer.side.codes(5000));
    }

    const basic = `Basic ${Buffer.from(`${RESOURCE_SERVER.clientId}:${RESOURCE_SERVER.secret}`).toString('base64')}`;
    // What each endpoint's load needs, prepared on every side before either is loaded.
    const prepare: Record<HotEndpoint, (side: Side) => Promise<Record<string, unknown> & { url: string }>> = {
      jwks: async (side) => ({ url: side.urls.jwks, kind: 'fixed', method: 'GET' }),
      deviceAuthorization: async (side) => ({ url: side.urls.deviceAuthorization, kind: 'fixed', method: 'POST', headers: form, body: `client_id=${POLL_CLIENT}&scope=openid%20offline_access` }),
      pendingPolls: async (side) => ({ url: side.urls.token, kind: 'bodies', bodies: pending.get(side.name)!.map((code) => pollBody(code)) }),
      refresh: async (side) => {
        const tokens = (await side.approve(await side.codes(2 * connections))).map((set) => set.refresh_token!);
        return { url: side.urls.token, kind: 'refresh', clientId: POLL_CLIENT, tokens: tokens.slice(0, connections), warmupTokens: tokens.slice(connections) };
      },
      introspection: async (side) => {
        const job = { url: side.urls.introspection, kind: 'fixed', method: 'POST', headers: { ...form, authorization: basic }, body: `token=${await accessToken(side)}` };
        // One introspection first: the appliance verifies the resource server's argon2id secret
        // once and then remembers it (docs/performance.md#verified-client-secrets), the steady
        // state of a resource server. Without it 50 connections would all arrive before the first
        // verification ended and each pay a verification.
        const response = await fetch(job.url, { method: 'POST', headers: job.headers, body: job.body });
        const answer = (await response.json()) as { active?: boolean };
        if (response.status !== 200 || answer.active !== true) throw new Error(`introspection at the ${side.name} answered ${response.status} active=${answer.active}`);
        return job;
      },
      userinfo: async (side) => {
        const job = { url: side.urls.userinfo, kind: 'fixed', method: 'GET', headers: { authorization: `Bearer ${await accessToken(side)}` } };
        const response = await fetch(job.url, { headers: job.headers });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`userinfo at the ${side.name} answered ${response.status}`);
        return job;
      },
    };
    const accessTokens = new Map<string, string>();
    // One access token per side (approved through its pages), for introspection and userinfo.
    const accessToken = async (side: Side) => {
      if (!accessTokens.has(side.name)) accessTokens.set(side.name, (await side.approve(await side.codes(1)))[0]!.access_token!);
      return accessTokens.get(side.name)!;
    };

    let turn = 0;
    for (const { flag, key } of HOT_ENDPOINTS) {
      if (!endpointWanted(flag)) continue;
      const order = turn++ % 2 === 0 ? sides : [...sides].reverse();
      const jobs = new Map<Side, Record<string, unknown> & { url: string }>();
      for (const side of order) jobs.set(side, await prepare[key](side));
      for (const side of order) {
        say(`${flag} on the ${side.name}`);
        const { url, ...job } = jobs.get(side)!;
        side.out[key] = await load(side.child, url, job, side.name);
      }
    }
    if (appliance && wanted('device-client')) {
      say('device client: start to code shown, peak RSS');
      results.deviceClient = await measureDeviceClient(appliance.issuer, PUSH_CLIENT);
    }
  } finally {
    await peer?.stop();
    await appliance?.stop();
  }
}

async function pushRun(channel: 'websocket' | 'mqtt', devices: number): Promise<void> {
  say(`approval → device with ${devices} devices waiting on ${channel}`);
  const appliance = await startBenchAppliance();
  const child = track(fork(path.join(benchDir, 'lib', 'push-process.ts'), [], {
    cwd: repoDir,
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      BENCH_PUSH: JSON.stringify({ issuer: appliance.issuer, clientId: PUSH_CLIENT, channel, devices, samples, person: PERSON, setupConcurrency: 64, setupTimeoutSeconds: 150 }),
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  }));
  try {
    const before = await memoryOf(appliance.child);
    const subscribed = await next<{ devices: number; subscribed: number; setupSeconds: number; failures: number; firstFailure: string }>(child, 'subscribed', 170_000);
    // The HTTP connections of the devices' discovery and device authorization stay open (idle
    // keep-alive) for 5 s; only the waiting devices should be counted.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const after = await memoryOf(appliance.child);
    const result = next<{ approvalToTold: unknown; approvalToToken: unknown; consentRequestMs: unknown; missed: number; failures: number; firstFailure: string }>(child, 'result', 180_000);
    child.send({ type: 'approve' });
    const measured = await result;
    results.push.push({
      channel,
      devices,
      subscribed: subscribed.subscribed,
      setupSeconds: Math.round(subscribed.setupSeconds * 10) / 10,
      memoryPerDevice: perItem(before, after, Math.max(1, subscribed.subscribed)),
      memoryBefore: before,
      memoryAfter: after,
      ...(measured as Omit<BenchResults['push'][number], 'channel' | 'devices' | 'subscribed' | 'setupSeconds' | 'memoryPerDevice' | 'memoryBefore' | 'memoryAfter'>),
    });
  } finally {
    child.kill('SIGTERM');
    await appliance.stop();
  }
}

/**
 * The floor under "memory per waiting device": the same number of connections held open on the
 * library alone (a bare `ws` server, a bare aedes broker; see bare-push-server.mjs), measured the
 * same way, so the appliance's figure can be read as a multiple of what the library costs.
 */
async function pushReference(channel: 'websocket' | 'mqtt', connections: number): Promise<void> {
  const server = channel === 'websocket' ? 'ws' : 'aedes';
  say(`reference: bare ${server} with ${connections} connections`);
  const bare = await startChild<{ url: string }>(path.join(benchDir, 'lib', 'bare-push-server.mjs'), {
    env: { BENCH_BARE_PUSH: server },
    execArgv: ['--expose-gc'],
  });
  let clients: ReturnType<typeof fork> | undefined;
  try {
    const before = await memoryOf(bare);
    clients = track(fork(path.join(benchDir, 'lib', 'bare-push-clients.mjs'), [], {
      cwd: repoDir,
      execArgv: [],
      env: {
        ...process.env,
        BENCH_BARE_CLIENTS: JSON.stringify({ kind: channel === 'websocket' ? 'ws' : 'mqtt', url: bare.ready.url, connections, concurrency: 64, setupTimeoutSeconds: 90, holdSeconds: 150 }),
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }));
    const held = await next<{ connections: number; subscribed: number; setupSeconds: number; failures: number; firstFailure: string }>(clients, 'subscribed', 110_000);
    // Nothing lingers here as the devices' HTTP requests do at the appliance: a short settle.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = await memoryOf(bare);
    results.pushReference.push({
      server,
      channel,
      connections,
      subscribed: held.subscribed,
      setupSeconds: Math.round(held.setupSeconds * 10) / 10,
      memoryPerConnection: perItem(before, after, Math.max(1, held.subscribed)),
      memoryBefore: before,
      memoryAfter: after,
      failures: held.failures,
      firstFailure: held.firstFailure,
    });
  } finally {
    clients?.kill('SIGTERM');
    await bare.stop();
  }
}

/**
 * Round trips to PostgreSQL per device authorization and per pending poll, counted by a proxy
 * between an appliance of its own and the server (test/support/postgres-round-trips.ts: one
 * round trip is one ReadyForQuery), one request at a time and then 50 in flight. A separate
 * instance, so the throughput runs after it go straight to the server, without the proxy.
 */
async function countRoundTrips(server: { url: string; port: number }): Promise<RoundTripFigures> {
  const { startRoundTripProxy } = await import('../../test/support/postgres-round-trips.ts');
  const proxy = await startRoundTripProxy(server.port);
  const counted = await startBenchAppliance({ databaseUrl: proxy.urlFor(server.url) });
  try {
    const { issuer } = counted;
    const deviceAuthorization = () =>
      fetch(`${issuer}/oauth/device_authorization`, { method: 'POST', headers: form, body: `client_id=${POLL_CLIENT}&scope=openid%20offline_access` }).then(async (response) => {
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`device authorization answered ${response.status}`);
      });
    const poll = (code: PendingCode) =>
      fetch(`${issuer}/oauth/token`, { method: 'POST', headers: form, body: pollBody(code) }).then(async (response) => {
        const body = (await response.json()) as { error?: string };
        if (body.error !== 'authorization_pending') throw new Error(`a poll of a pending code answered ${response.status} ${body.error}`);
      });
    // Each poll is of a code not polled before, so none is early (slow_down) and each is the
    // plain pending case.
    const codes = await createPendingCodes(issuer, POLL_CLIENT, 221);
    // Warm: the pool's connections opened, the prepared statements parsed.
    await deviceAuthorization();
    await poll(codes.pop()!);
    await proxy.quiet(200, 10_000);
    const perRequest = async (count: number, inFlight: number, request: (index: number) => Promise<void>) => {
      const mark = proxy.mark();
      let next = 0;
      await Promise.all(Array.from({ length: inFlight }, async () => {
        while (next < count) await request(next++);
      }));
      const trips = await proxy.since(mark, { quietMs: 200, timeoutMs: 10_000 });
      return Math.round((trips.roundTrips / count) * 100) / 100;
    };
    return {
      deviceAuthorization: { oneAtATime: await perRequest(20, 1, deviceAuthorization), fiftyInFlight: await perRequest(200, 50, deviceAuthorization) },
      pendingPoll: { oneAtATime: await perRequest(20, 1, (index) => poll(codes[index]!)), fiftyInFlight: await perRequest(200, 50, (index) => poll(codes[20 + index]!)) },
    };
  } finally {
    await counted.stop();
    await proxy.close();
  }
}

async function postgres(): Promise<void> {
  const { postgresAvailable, startPostgres } = await import('../../test/support/postgres.ts');
  if (!postgresAvailable()) {
    results.postgres = { status: 'skipped: PostgreSQL server binaries not found (bash scripts/install-test-deps.sh installs them)' };
    return;
  }
  say('PostgreSQL: one and two appliance instances');
  const server = await startPostgres({ database: 'devicegate_bench' });
  try {
    const roundTrips = await countRoundTrips(server);
    const first = await startBenchAppliance({ databaseUrl: server.url });
    let second: Awaited<ReturnType<typeof startBenchAppliance>> | undefined;
    try {
      const codes = await createPendingCodes(first.issuer, POLL_CLIENT, 2000);
      const deviceAuthorization = { kind: 'fixed', method: 'POST', headers: form, body: `client_id=${POLL_CLIENT}&scope=openid%20offline_access` };
      const polls = (part: PendingCode[]) => ({ kind: 'bodies', bodies: part.map((code) => pollBody(code)) });
      const one = {
        deviceAuthorization: await load(first.child, `${first.issuer}/oauth/device_authorization`, deviceAuthorization),
        pendingPolls: await load(first.child, `${first.issuer}/oauth/token`, polls(codes)),
      };
      second = await startBenchAppliance({ databaseUrl: server.url });
      const half = { connections: Math.max(1, Math.round(connections / 2)) };
      const both = async (job: (index: number) => Record<string, unknown>) => {
        const [a, b] = await Promise.all([
          load(first.child, `${first.issuer}${job(0).path}`, { ...job(0), ...half }),
          load(second!.child, `${second!.issuer}${job(1).path}`, { ...job(1), ...half }),
        ]);
        const sent = a.sent + b.sent;
        const serverCpuMicros = Math.round(((a.serverCpuMicros ?? 0) * a.sent + (b.serverCpuMicros ?? 0) * b.sent) / Math.max(1, sent));
        return { ...a, requestsPerSecond: a.requestsPerSecond + b.requestsPerSecond, total: a.total + b.total, sent, serverCpuMicros, non2xx: a.non2xx + b.non2xx, errors: a.errors + b.errors, perInstance: [a.requestsPerSecond, b.requestsPerSecond] };
      };
      const two = {
        deviceAuthorization: await both(() => ({ ...deviceAuthorization, path: '/oauth/device_authorization' })),
        pendingPolls: await both((index) => ({ ...polls(codes.filter((_, position) => position % 2 === index)), path: '/oauth/token' })),
      };
      results.postgres = { status: 'measured', one, two, roundTrips };
    } finally {
      await second?.stop();
      await first.stop();
    }
  } finally {
    await server.stop();
  }
}

function finish(code: number): void {
  clearTimeout(overall);
  results.finishedAt = new Date().toISOString();
  const markdown = renderMarkdown(results);
  const dir = path.join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  // A partial run (--only, --endpoints) never replaces the figures of a whole one.
  if (only === null && endpoints === null) {
    writeFileSync(path.join(dir, 'latest.md'), markdown);
    writeFileSync(path.join(dir, `${results.startedAt.slice(0, 10)}.md`), markdown);
    writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  } else {
    writeFileSync(path.join(dir, 'partial.md'), markdown);
    writeFileSync(path.join(dir, 'partial.json'), `${JSON.stringify(results, null, 2)}\n`);
  }
  process.stdout.write(markdown);
  process.exit(code);
}

try {
  if (wanted('bare')) await bare();
  if (wanted('appliance') || wanted('peer')) await hotEndpoints();
  if (wanted('push') || wanted('push-reference')) {
    const channels = flags['push-channels']!.split(',').filter((name): name is 'websocket' | 'mqtt' => name === 'websocket' || name === 'mqtt');
    for (const channel of channels) {
      for (const devices of pushSizes) {
        // Each reference right before its appliance run, so both meet the machine in a like state.
        await pushReference(channel, devices);
        if (wanted('push')) await pushRun(channel, devices);
      }
    }
  }
  if (wanted('postgres')) await postgres();
  finish(0);
} catch (error) {
  // fetch's "fetch failed" says why only in its cause (ECONNRESET, ECONNREFUSED, ...).
  const cause = error instanceof Error && error.cause ? ` (${error.cause instanceof Error ? error.cause.message : String(error.cause)})` : '';
  results.notes.push(`The run failed: ${error instanceof Error ? error.message : String(error)}${cause}`);
  killAll();
  finish(1);
}
