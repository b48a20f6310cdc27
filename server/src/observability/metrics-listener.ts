import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import type { ApplianceModule } from '../modules.ts';
import { listen } from '../listeners.ts';
import { constantTimeEqual } from '../secrets.ts';

export const METRICS_PATH = '/metrics';

/** True when no token is configured, or the request carries it as a bearer token (constant-time compare). */
function authorized(header: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match !== null && constantTimeEqual(match[1]!, token);
}

/**
 * Serves /metrics: on a listener of its own (metrics.host:metrics.port, loopback by default), or
 * on the public listener behind metrics.token (metrics.onPublicListener). A listener of its own
 * opens with the appliance's others and fails the start loudly when its port is taken, like the
 * HTTP and MQTT listeners: an operator who asked for metrics must not find out from an empty
 * dashboard.
 */
export function createMetricsModule(context: AppContext): ApplianceModule & { address(): AddressInfo | null } {
  const { metrics, config, logger } = context;
  const { host, port, token, onPublicListener } = config.metrics;
  let server: Server | undefined;

  return {
    name: 'metrics',
    register(app: FastifyInstance) {
      if (!onPublicListener) return;
      app.get(METRICS_PATH, async (request, reply) => {
        if (!authorized(request.headers.authorization, token)) {
          return reply.code(401).header('www-authenticate', 'Bearer').header('cache-control', 'no-store').send();
        }
        const { contentType, body } = await metrics.scrape();
        return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
      });
    },
    async start() {
      if (onPublicListener) return;
      const handle = (request: IncomingMessage, response: ServerResponse) => {
        const path = (request.url ?? '').split('?', 1)[0];
        if (path !== METRICS_PATH || (request.method !== 'GET' && request.method !== 'HEAD')) {
          response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
          return;
        }
        if (!authorized(request.headers.authorization, token)) {
          response.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
          return;
        }
        metrics.scrape().then(
          ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body),
          (error: unknown) => {
            logger.error({ err: error }, 'metrics scrape failed');
            response.writeHead(500).end();
          },
        );
      };
      const listener = createServer(handle);
      // Through listen(), so a taken port is the same one line as for the HTTP and MQTT listeners.
      await listen(listener, {
        name: 'metrics listener',
        host,
        port,
        remedy: 'metrics.port (DEVICEGATE_METRICS_PORT) or metrics.host (DEVICEGATE_METRICS_HOST), or serve it on the public listener with metrics.onPublicListener',
      });
      listener.on('error', (error) => logger.error({ err: error }, 'metrics listener error'));
      server = listener;
      logger.info({ host, port: (listener.address() as AddressInfo).port }, 'metrics listening');
    },
    ready: () => onPublicListener || Boolean(server?.listening),
    async stop() {
      if (!server) return;
      const closing = new Promise<void>((resolve) => server!.close(() => resolve()));
      server.closeAllConnections();
      await closing;
      server = undefined;
    },
    address() {
      return (server?.address() as AddressInfo | null) ?? null;
    },
  };
}
