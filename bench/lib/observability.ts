// `npm run bench:observability`: the cost of metrics and tracing, measured rather than assumed.
// The real appliance in three configurations (neither; metrics; metrics and tracing through the
// SDK to an exporter that drops spans), each in a process of its own and loaded by autocannon in
// another, on device authorization and on polls of pending codes, in alternating order for
// several rounds. Prints the server's CPU time per request (the steady figure on a shared machine)
// and requests per second for every round, and the medians; docs/performance.md#metrics-and-tracing
// has a run's figures. Bounded: each load run lasts warm-up + duration seconds.
import { parseArgs } from 'node:util';
import { killAll, runLoadMeasuringCpu, type LoadResult } from './processes.ts';
import { createPendingCodes, POLL_CLIENT, startBenchAppliance } from './setup.ts';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
  },
});
const rounds = Number(flags.rounds);
const base = { connections: Number(flags.connections), durationSeconds: Number(flags.duration), warmupSeconds: Number(flags.warmup) };
const modes = ['off', 'metrics', 'metrics+tracing'] as const;
type Mode = (typeof modes)[number];
const endpoints = ['device authorization', 'polls'] as const;
type Endpoint = (typeof endpoints)[number];
const form = { 'content-type': 'application/x-www-form-urlencoded' };

async function measure(mode: Mode): Promise<Record<Endpoint, LoadResult>> {
  const appliance = await startBenchAppliance({ metrics: mode !== 'off', tracing: mode === 'metrics+tracing' });
  try {
    const pending = await createPendingCodes(appliance.issuer, POLL_CLIENT, 2000);
    const authorization = await runLoadMeasuringCpu(appliance.child, {
      ...base,
      kind: 'fixed',
      method: 'POST',
      headers: form,
      body: `client_id=${POLL_CLIENT}&scope=openid%20offline_access`,
      url: `${appliance.issuer}/oauth/device_authorization`,
    });
    const polls = await runLoadMeasuringCpu(appliance.child, {
      ...base,
      kind: 'bodies',
      url: `${appliance.issuer}/oauth/token`,
      bodies: pending.map((code) => `grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=${POLL_CLIENT}&device_code=${code.deviceCode}`),
    });
    return { 'device authorization': authorization, polls };
  } finally {
    await appliance.stop();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const number = (value: number) => Math.round(value).toLocaleString('en-US');

const figures = new Map<Mode, Array<Record<Endpoint, LoadResult>>>(modes.map((mode) => [mode, []]));
try {
  for (let round = 0; round < rounds; round++) {
    const order = modes.map((_, index) => modes[(index + round) % modes.length]!);
    for (const mode of order) {
      const result = await measure(mode);
      figures.get(mode)!.push(result);
      for (const endpoint of endpoints) {
        process.stderr.write(`round ${round + 1}/${rounds} ${mode} ${endpoint}: ${number(result[endpoint].requestsPerSecond)} req/s, ${result[endpoint].serverCpuMicros} µs CPU/req\n`);
      }
    }
  }
} catch (error) {
  killAll();
  throw error;
}

const lines = [
  `Metrics and tracing cost; ${rounds} rounds alternating, autocannon ${base.connections} connections, ${base.warmupSeconds} s warm-up + ${base.durationSeconds} s; Node ${process.version}`,
  '',
  '| endpoint | configuration | server CPU per request (median; each round) | vs off | req/s (median) |',
  '| --- | --- | --- | --- | --- |',
];
for (const endpoint of endpoints) {
  const cpuOf = (mode: Mode) => figures.get(mode)!.map((result) => result[endpoint].serverCpuMicros ?? 0);
  const off = median(cpuOf('off'));
  for (const mode of modes) {
    const cpu = cpuOf(mode);
    const rps = figures.get(mode)!.map((result) => result[endpoint].requestsPerSecond);
    const change = mode === 'off' ? '' : `${median(cpu) >= off ? '+' : ''}${(((median(cpu) - off) / off) * 100).toFixed(1)} %`;
    lines.push(`| ${endpoint} | ${mode} | ${number(median(cpu))} µs (${cpu.join(', ')}) | ${change} | ${number(median(rps))} |`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
