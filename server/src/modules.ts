import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';

/**
 * A part of the appliance beyond the OAuth core: the verification pages, a push channel, the
 * embedded MQTT broker. Each registers its routes, may add discovery metadata, and may hold
 * resources with a lifetime (sockets, a broker) that start after the HTTP server listens and stop
 * on shutdown.
 */
export interface ApplianceModule {
  name: string;
  register?(app: FastifyInstance, context: AppContext): void | Promise<void>;
  metadata?(): Record<string, unknown>;
  start?(server: Server): Promise<void>;
  stop?(): Promise<void>;
}
