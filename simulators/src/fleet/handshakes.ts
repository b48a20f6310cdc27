import { mqttTransport, websocketTransport, type StartLoginOptions } from '@devicegate/device-client';
import { createSemaphore } from './queue.ts';

/**
 * At most this many push connections of the fleet are opening at once. A simulated fleet is one
 * process: its devices, and often the appliance too, share one event loop. A hundred flows
 * starting together each opened their socket in the same instant, so every opening handshake
 * queued behind all the others and behind the appliance's own work; on a loaded 2-core machine
 * some took longer than the device client's 10 s handshake timeout and were counted as push
 * errors. Real devices open their sockets from their own machines; bounding the fleet's
 * simultaneous handshakes gives each the event loop time one device would have, while every
 * device still connects, subscribes and is told on its own channel.
 */
export const MAX_OPENING_HANDSHAKES = 16;

export type PushTransports = (clientId: string) => NonNullable<StartLoginOptions['pushTransport']>;

/**
 * The device client's own transports for the whole fleet, each `listen` holding one of `limit`
 * slots from the start of its connection until it is subscribed (or fails, or ends).
 */
export function createHandshakeGate(limit = MAX_OPENING_HANDSHAKES): PushTransports {
  const opening = createSemaphore(limit);
  return (clientId) => (channel, push, deviceCode) => {
    const transport = channel === 'websocket' ? websocketTransport(push.websocket!, deviceCode) : mqttTransport(push.mqtt!, clientId, deviceCode);
    return {
      channel: transport.channel,
      async listen(handlers, signal) {
        await opening.acquire();
        let held = true;
        const release = () => {
          if (!held) return;
          held = false;
          opening.release();
        };
        try {
          if (signal.aborted) return;
          await transport.listen(
            {
              onSubscribed() {
                release();
                handlers.onSubscribed();
              },
              onMessage: handlers.onMessage,
            },
            signal,
          );
        } finally {
          release();
        }
      },
    };
  };
}
