import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { paths } from './paths.ts';

/** What readiness asks beside the store: is the appliance draining, and does each part serve. */
export interface Readiness {
  isDraining(): boolean;
  /** Each module's readiness by name (false until the appliance has started them all). */
  parts(): Record<string, boolean>;
}

const alwaysReady: Readiness = { isDraining: () => false, parts: () => ({}) };

/**
 * Liveness (the process answers) and readiness: its store answers, it is not draining, and every
 * part it runs (push channels, the embedded broker) is serving, so a proxy never sends devices to
 * an appliance that would point them at a broker it does not have.
 */
export function registerHealth(app: FastifyInstance, context: AppContext, readiness: Readiness = alwaysReady): void {
  app.get(paths.health, async () => ({ status: 'ok' }));
  app.get(paths.ready, async (_request, reply) => {
    let storeOk = false;
    try {
      storeOk = await context.store.ping();
    } catch {
      storeOk = false;
    }
    const draining = readiness.isDraining();
    const parts = readiness.parts();
    const ready = storeOk && !draining && Object.values(parts).every(Boolean);
    return reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ready ? 'ready' : 'unavailable', store: storeOk, draining, parts });
  });
}
