import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { paths } from './paths.ts';

/** Liveness (the process answers) and readiness (its store answers and it is not draining). */
export function registerHealth(app: FastifyInstance, context: AppContext, isDraining: () => boolean): void {
  app.get(paths.health, async () => ({ status: 'ok' }));
  app.get(paths.ready, async (_request, reply) => {
    let storeOk = false;
    try {
      storeOk = await context.store.ping();
    } catch {
      storeOk = false;
    }
    const ready = storeOk && !isDraining();
    return reply.code(ready ? 200 : 503).header('cache-control', 'no-store').send({ status: ready ? 'ready' : 'unavailable', store: storeOk, draining: isDraining() });
  });
}
