// `npm run bench:frameworks`: the HTTP framework's own cost, measured rather than assumed. A
// hello-world answered by a bare Node http server, by Fastify and by express (lib/hello-server.mjs),
// each in a process of its own and loaded by autocannon in another, in alternating order for
// several rounds, so a busy moment of a shared machine does not land on one of them only. Prints
// requests per second and the server's CPU time per request (the steadier figure) for every round,
// and the medians. docs/performance.md#http-framework says what we chose because of it.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchDir, killAll, runLoadMeasuringCpu, startChild, type LoadResult } from './processes.ts';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
  },
});
const rounds = Number(flags.rounds);
const job = { kind: 'fixed', method: 'GET', connections: Number(flags.connections), durationSeconds: Number(flags.duration), warmupSeconds: Number(flags.warmup) };
const servers = ['node', 'fastify', 'express'] as const;
type Server = (typeof servers)[number];
const label: Record<Server, string> = { node: 'bare node:http', fastify: 'Fastify', express: 'express' };

async function measure(server: Server): Promise<LoadResult> {
  // NODE_ENV=production as deployed: express reads it (node:http and Fastify do not).
  const env = { BENCH_SERVER: server, NODE_ENV: 'production' };
  const child = await startChild<{ url: string }>(path.join(benchDir, 'lib', 'hello-server.mjs'), { execArgv: [], env });
  try {
    const result = await runLoadMeasuringCpu(child, { ...job, url: child.ready.url });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${server}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    return result;
  } finally {
    await child.stop();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const number = (value: number) => Math.round(value).toLocaleString('en-US');

const figures = new Map<Server, LoadResult[]>(servers.map((server) => [server, []]));
try {
  for (let round = 0; round < rounds; round++) {
    // Each round starts with the next server, so none is always first (or last).
    const order = servers.map((_, index) => servers[(index + round) % servers.length]!);
    for (const server of order) {
      const result = await measure(server);
      figures.get(server)!.push(result);
      process.stderr.write(`round ${round + 1}/${rounds} ${label[server]}: ${number(result.requestsPerSecond)} req/s, ${result.serverCpuMicros} µs CPU/req\n`);
    }
  }
} catch (error) {
  killAll();
  throw error;
}

const bare = median(figures.get('node')!.map((result) => result.requestsPerSecond));
const lines = [
  `HTTP frameworks, hello-world JSON (NODE_ENV=production); ${rounds} rounds alternating, autocannon ${job.connections} connections, ${job.warmupSeconds} s warm-up + ${job.durationSeconds} s; Node ${process.version}`,
  '',
  '| server | req/s (median; each round) | server CPU per request (median; each round) | req/s vs bare |',
  '| --- | --- | --- | --- |',
];
for (const server of servers) {
  const results = figures.get(server)!;
  const rps = results.map((result) => result.requestsPerSecond);
  const cpu = results.map((result) => result.serverCpuMicros ?? 0);
  lines.push(
    `| ${label[server]} | ${number(median(rps))} (${rps.map(number).join(', ')}) | ${number(median(cpu))} µs (${cpu.join(', ')}) | ${(median(rps) / bare).toFixed(2)} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
