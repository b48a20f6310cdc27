// devicegate inside an express app: express keeps its own routes and hands devicegate's to the
// appliance's Fastify instance in the same process, on the same port.
//
//   node --import tsx examples/express/server.ts      # http://127.0.0.1:3000, demo client demo-tv
//
// How: the appliance starts as usual (startAppliance; its own listener on a loopback port stays
// internal) and a first express middleware passes requests for /oauth/*, /.well-known/* and the
// verification pages to `fastify.routing`, Fastify's documented request handler, untouched:
// before any express body parser, so devicegate reads the body with its own limits. WebSocket
// upgrades for /push are emitted on the appliance's server, where the push module listens. One
// hop, the device's real address (no X-Forwarded-For to trust), the appliance exactly as
// `devicegate serve` runs it. README.md says why this and not a reverse proxy.
//
// Environment: EXPRESS_HOST (127.0.0.1), EXPRESS_PORT (3000), and any DEVICEGATE_* setting
// (README "Configuration"); DEVICEGATE_ISSUER defaults to this server's URL.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { defaultModules, loadConfig, paths, startAppliance, type Appliance, type ConfigInput } from './devicegate.ts';

export interface ExpressFront {
  /** The express server (listening). */
  server: Server;
  url: string;
  devicegate: Appliance;
  stop(): Promise<void>;
}

const pathOf = (url: string | undefined) => (url ?? '/').split('?', 1)[0]!;

/** devicegate's part of the URL space: its OAuth endpoints, its metadata and its pages. */
function ownedByDevicegate(verificationPath: string): (url: string | undefined) => boolean {
  const prefixes = ['/oauth/', '/.well-known/', `${verificationPath}/`];
  return (url) => {
    const path = pathOf(url);
    return path === verificationPath || prefixes.some((prefix) => path.startsWith(prefix));
  };
}

/** The team's own express routes (whatever the app already does). */
function ownRoutes(app: express.Express): void {
  // Body parsers after the hand-off: devicegate's requests never reach them.
  app.use(express.json({ limit: '16kb' }));
  app.get('/', (_request, response) => {
    response.json({ app: 'express', signIn: '/device' });
  });
  app.post('/echo', (request, response) => {
    response.json({ received: request.body as unknown });
  });
}

export async function startExpressFront(options: { host?: string; port?: number; env?: NodeJS.ProcessEnv; devicegate?: ConfigInput } = {}): Promise<ExpressFront> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 3000;
  const env = options.env ?? {};
  const issuer = options.devicegate?.issuer ?? env.DEVICEGATE_ISSUER ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // The appliance's own listener: loopback, any free port, never published.
  const config = loadConfig({ env, overrides: { ...options.devicegate, issuer, host: '127.0.0.1', port: 0 } });
  const devicegate = await startAppliance(config, { modules: (context) => defaultModules(context) });

  const app = express();
  app.disable('x-powered-by');
  const handedOver = ownedByDevicegate(config.verificationPath);
  app.use((request, response, next) => (handedOver(request.url) ? devicegate.app.routing(request, response) : next()));
  ownRoutes(app);

  const server = createServer(app);
  // The timeouts devicegate sets on its own server (a stalled client must not hold a request).
  server.requestTimeout = devicegate.server.requestTimeout;
  server.keepAliveTimeout = devicegate.server.keepAliveTimeout;
  server.timeout = devicegate.server.timeout;
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(request.url) === paths.pushWebSocket) devicegate.server.emit('upgrade', request, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    await devicegate.stop();
    throw error;
  }
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;

  let stopping: Promise<void> | undefined;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    devicegate,
    stop() {
      stopping ??= (async () => {
        // No new connections; idle ones close; then devicegate drains (push connections, store).
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await devicegate.stop();
        server.closeAllConnections();
        await closed;
      })();
      return stopping;
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const front = await startExpressFront({ host: env.EXPRESS_HOST ?? '127.0.0.1', port: Number(env.EXPRESS_PORT ?? 3000), env });
  if (front.devicegate.demoPassword) process.stdout.write(`demo user "demo", password ${front.devicegate.demoPassword} (shown once)\n`);
  process.stdout.write(`express with devicegate listening on ${front.url}\n`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void front.stop().then(() => process.exit(0)));
}
