import { parsePushMessage, type SubscribeMessage, type WatchMessage } from '@devicegate/protocol';
import WebSocket from 'ws';
import { PushRefusedError, type PushTransport } from '../core/push/transport.ts';
import type { PushTls } from './tls.ts';

/** How long the opening handshake may take before this connection counts as failed. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * devicegate's WebSocket push (docs/push.md#websocket): the device code travels in the first frame,
 * never in the URL, where proxies would log it. The appliance answers `pending`, later one outcome,
 * then closes.
 */
export function websocketTransport(url: string, deviceCode: string, tls: PushTls = {}): PushTransport {
  const subscribe: SubscribeMessage = { type: 'subscribe', device_code: deviceCode };
  return websocketChannel(url, JSON.stringify(subscribe), tls);
}

/**
 * A signed-in device's watch of its grant (docs/push.md#signed-in-devices): the access token in
 * the first frame, then `signed_in`, and `revoked` when the grant is revoked.
 */
export function signedInWebSocketTransport(url: string, accessToken: string, tls: PushTls = {}): PushTransport {
  const watch: WatchMessage = { type: 'watch', access_token: accessToken };
  return websocketChannel(url, JSON.stringify(watch), tls);
}

function websocketChannel(url: string, firstFrame: string, tls: PushTls): PushTransport {
  return {
    channel: 'websocket',
    listen(handlers, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal.aborted) return resolve();
        const socket = new WebSocket(url, {
          handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
          perMessageDeflate: false,
          ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        });
        let settled = false;
        let subscribed = false;
        let refusal: string | undefined;
        const finish = (error?: Error) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve();
        };
        const onAbort = () => {
          socket.removeAllListeners('message');
          if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
          else socket.close(1000);
          finish();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        socket.on('open', () => socket.send(firstFrame));
        socket.on('message', (data, isBinary) => {
          if (isBinary) return;
          const message = parsePushMessage(data.toString());
          if (!message) return;
          if (message.type === 'error') {
            refusal = message.error_description ? `${message.error}: ${message.error_description}` : message.error;
            return;
          }
          if (!subscribed) {
            subscribed = true;
            handlers.onSubscribed();
          }
          handlers.onMessage(message);
        });
        socket.on('error', (error) => finish(error));
        socket.on('close', (code, reason) => {
          if (refusal) return finish(new PushRefusedError(`subscription refused: ${refusal}`));
          if (code === 1000 && subscribed) return finish();
          const why = reason.toString() || (code === 1006 ? 'connection lost' : `close code ${code}`);
          finish(new Error(`WebSocket closed: ${why}`));
        });
      });
    },
  };
}
