import type { Server } from 'node:http';
import type { PushEndpoints } from '@devicegate/protocol';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';

/** A device grant at the moment it is created, while its plaintext device code is at hand. */
export interface AuthorizedGrant {
  pushKey: string;
  deviceCode: string;
  expiresAt: number;
}

/**
 * A part of the appliance beyond the OAuth core: the verification pages, a push channel, the
 * embedded MQTT broker. Each registers its routes, may add discovery metadata, and may hold
 * resources with a lifetime (sockets, a broker) that start after the HTTP server listens and stop
 * on shutdown. A push channel also says where a device waits on it (`pushEndpoints`, merged into
 * the device authorization response's `push` object) and may act on each new grant before the
 * device is told (`onDeviceAuthorized`: a broker account per grant). Adding a channel is its own
 * files plus one line in push/index.ts (docs/architecture.md).
 */
export interface ApplianceModule {
  name: string;
  register?(app: FastifyInstance, context: AppContext): void | Promise<void>;
  metadata?(): Record<string, unknown>;
  /** This channel's part of the `push` object for one grant. */
  pushEndpoints?(pushKey: string): PushEndpoints;
  /**
   * Awaited before the device authorization answer goes out; each module bounds its own wait
   * (push.mqttAuthWait), since the device is waiting.
   */
  onDeviceAuthorized?(grant: AuthorizedGrant): Promise<void>;
  /**
   * Opens what the module serves (a broker's listener, a connection to an external broker). A
   * listener that cannot be opened throws a ListenerError (listeners.ts): `serve` then closes
   * everything already opened and exits with that one line, never running half.
   */
  start?(server: Server): Promise<void>;
  /**
   * Whether this part serves right now; /readyz is green only when every module says so (a
   * module without `ready` counts as serving once started).
   */
  ready?(): boolean;
  stop?(): Promise<void>;
}
