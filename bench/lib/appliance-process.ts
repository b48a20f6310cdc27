// The appliance under test, in a process of its own so its memory and CPU are its own: the real
// appliance (startAppliance with the default modules: pages, WebSocket, embedded MQTT) on loopback,
// driven by the bench over IPC. Started by bench/run.mjs with `fork` and `--expose-gc`.
//
// Parent → child: { type: 'memory' } → { type: 'memory', ... } after two full GCs;
//                 { type: 'cpu' } → { type: 'cpu', micros } (user + system CPU time so far);
//                 { type: 'profile-start' } / { type: 'profile-stop', file } → a CPU profile of the window;
//                 { type: 'stop' } → stops the appliance and exits.
// Child → parent: { type: 'ready', url, mqttUrl } once listening, clients and users in place.
import { answerBenchControl } from './server-control.ts';
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

answerBenchControl(() => appliance.stop());
process.send!({ type: 'ready', url: appliance.url, mqttUrl: `mqtt://127.0.0.1:${config.push.mqttPort}` });
