// The memory references of the push channels: what the libraries alone cost per waiting
// connection, measured the same way as the appliance (its own process, --expose-gc, two full GCs),
// so the appliance's "memory per waiting device" can be read against the floor it stands on.
//
// BENCH_BARE_PUSH=ws: a bare `ws` WebSocketServer with the appliance's options
// (server/src/push/websocket.ts) on a bare http server; each connection's one frame is answered
// with one small frame, like the appliance's `pending`. Nothing is tracked or timed per connection.
// BENCH_BARE_PUSH=aedes: a bare aedes broker, the same package and options as the embedded broker
// (server/src/push/mqtt-embedded.ts), on a plain net server; its hooks accept every client and
// grant any subscription at QoS ≤ 1, without the store, sessions or expiry timers.
//
// Both libraries are loaded from where the server package resolves them: the very copies the
// appliance runs. IPC: ← { type: 'memory' } → { type: 'memory', rss, heapUsed, external, ... };
// ← { type: 'stop' } → exits. → { type: 'ready', url } once listening on 127.0.0.1.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import { pathToFileURL } from 'node:url';

const kind = process.env.BENCH_BARE_PUSH;
const fromServer = createRequire(new URL('../../server/package.json', import.meta.url));
const load = (name) => import(pathToFileURL(fromServer.resolve(name)).href);

let server;
let url;
if (kind === 'ws') {
  // Resolved by require's rules: ws's CommonJS entry, whose export is the WebSocket class.
  const { WebSocketServer } = (await load('ws')).default;
  // As in websocket.ts: the appliance's own constants (MAX_PAYLOAD_BYTES is 4096 there).
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: 4096, perMessageDeflate: false });
  const pending = JSON.stringify({ type: 'pending', expires_in: 1800 });
  server = createHttpServer((_request, response) => {
    response.writeHead(404, { 'content-length': 0 });
    response.end();
  });
  server.on('upgrade', (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (ws) => {
      ws.on('message', () => ws.send(pending));
      ws.on('error', () => undefined);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${server.address().port}/push`;
} else if (kind === 'aedes') {
  const { Aedes } = await load('aedes');
  // As in mqtt-embedded.ts: connectTimeout is push.subscribeTimeout's default (5 s) there.
  const broker = await Aedes.createBroker({
    connectTimeout: 5000,
    keepaliveLimit: 300,
    maxClientsIdLength: 128,
    queueLimit: 8,
    authenticate: (_client, _username, _password, done) => done(null, true),
    authorizeSubscribe: (_client, subscription, done) => done(null, { ...subscription, qos: Math.min(subscription.qos, 1) }),
    authorizePublish: (_client, _packet, done) => done(new Error('devices may not publish')),
  });
  broker.on('clientError', () => undefined);
  server = createNetServer((socket) => broker.handle(socket));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${server.address().port}`;
} else {
  throw new Error(`BENCH_BARE_PUSH must be ws or aedes, not ${kind}`);
}

function residentBytes() {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return kb ? Number(kb) * 1024 : process.memoryUsage().rss;
}

process.on('message', async (message) => {
  if (message.type === 'memory') {
    // Exactly as appliance-process.ts measures, so the two figures compare.
    const gc = globalThis.gc;
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc?.();
    const usage = process.memoryUsage();
    process.send({ type: 'memory', rss: residentBytes(), heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers, gc: Boolean(gc) });
  } else if (message.type === 'stop') {
    // Nothing to hand back: the clients' process is ended beside this one.
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', url });
