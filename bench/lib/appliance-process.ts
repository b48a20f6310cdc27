// The appliance under test, in a process of its own so its memory and CPU are its own: the real
// appliance (startAppliance with the default modules: pages, WebSocket, embedded MQTT) on loopback,
// driven by the bench over IPC. Started by bench/run.mjs with `fork` and `--expose-gc`.
//
// Parent → child: { type: 'memory' } → { type: 'memory', ... } after two full GCs;
//                 { type: 'cpu' } → { type: 'cpu', micros } (user + system CPU time so far);
//                 { type: 'profile-start' } / { type: 'profile-stop', file } → a CPU profile of the window;
//                 { type: 'stop' } → stops the appliance and exits.
// Child → parent: { type: 'ready', url, mqttUrl } once listening, clients and users in place.
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import {
  defaultClient,
  hashPassword,
  loadConfig,
  startAppliance,
  type ClientRecord,
  type ConfigInput,
} from '@devicegate/server';
import { defaultModules } from '@devicegate/appliance';

export interface ApplianceSpec {
  overrides: ConfigInput;
  clients: Array<Partial<ClientRecord> & { clientId: string; secret?: string }>;
  users: Array<{ username: string; password: string }>;
}

const spec = JSON.parse(process.env.BENCH_APPLIANCE ?? '{}') as ApplianceSpec;
const config = loadConfig({ overrides: spec.overrides });
// Tracing as `serve` runs it (the SDK's batching processor), exporting to nowhere: the figure is
// the appliance's own cost per span, not a collector's.
const tracing = process.env.BENCH_TRACING === '1';
if (tracing) {
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const discard = { export: (_spans: unknown[], done: (result: { code: number }) => void) => done({ code: 0 }), shutdown: async () => {} };
  new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard)] }).register();
}
const appliance = await startAppliance(config, { tracing, modules: (context) => defaultModules(context) });
const { store, clock } = appliance.context;
for (const { secret, ...client } of spec.clients ?? []) {
  await store.clients.put(defaultClient(config, clock, { ...client, secretHash: secret ? await hashPassword(secret) : null }));
}
for (const user of spec.users ?? []) {
  if (await store.users.getByUsername(user.username)) continue;
  await store.users.create({
    id: `bench-${user.username}`,
    username: user.username,
    passwordHash: await hashPassword(user.password),
    name: user.username,
    email: `${user.username}@example.com`,
    emailVerified: true,
    disabled: false,
    createdAt: clock.now(),
  });
}

function residentBytes(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : process.memoryUsage().rss;
}

// CPU profiles of chosen windows (one load run each), for `npm run bench -- --cpu-prof-dir DIR`.
const inspector = new Session();
inspector.connect();
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) => inspector.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))));

process.on('message', async (message: { type: string; file?: string }) => {
  if (message.type === 'profile-start') {
    await post('Profiler.enable');
    await post('Profiler.start');
    process.send!({ type: 'profiling' });
    return;
  }
  if (message.type === 'profile-stop') {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(message.file!, JSON.stringify(profile));
    process.send!({ type: 'profiled' });
    return;
  }
  if (message.type === 'memory') {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc?.();
    const usage = process.memoryUsage();
    process.send!({ type: 'memory', rss: residentBytes(), heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers, gc: Boolean(gc) });
  } else if (message.type === 'cpu') {
    const usage = process.cpuUsage();
    process.send!({ type: 'cpu', micros: usage.user + usage.system });
  } else if (message.type === 'stop') {
    await appliance.stop();
    process.send!({ type: 'stopped' }, () => process.exit(0));
  }
});
process.on('disconnect', () => {
  void appliance.stop().finally(() => process.exit(0));
});
process.send!({ type: 'ready', url: appliance.url, mqttUrl: `mqtt://127.0.0.1:${config.push.mqttPort}` });
