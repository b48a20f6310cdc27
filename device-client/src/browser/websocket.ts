import { parsePushMessage, type SubscribeMessage } from '@devicegate/protocol';
import { PushRefusedError, type PushTransport } from '../core/push/transport.ts';

/**
 * devicegate's WebSocket push (docs/push.md#websocket) over the browser's own WebSocket: the
 * device code goes in the first frame, never in the URL. The browser sends its Origin with the
 * handshake, and the appliance refuses an origin the client does not list (docs/security.md
 * CORS-ORIGIN); the runner (core/push/runner.ts) then stops the channel and polling goes on.
 */
export function browserWebSocketTransport(url: string, deviceCode: string, WebSocketImpl: typeof WebSocket = WebSocket): PushTransport {
  return {
    channel: 'websocket',
    listen(handlers, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal.aborted) return resolve();
        const socket = new WebSocketImpl(url);
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
          socket.close(1000);
          finish();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        socket.addEventListener('open', () => {
          const subscribe: SubscribeMessage = { type: 'subscribe', device_code: deviceCode };
          socket.send(JSON.stringify(subscribe));
        });
        socket.addEventListener('message', (event) => {
          if (typeof event.data !== 'string') return;
          const message = parsePushMessage(event.data);
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
        // A browser tells a script nothing about why a WebSocket failed; the close event follows.
        socket.addEventListener('close', (event) => {
          if (refusal) return finish(new PushRefusedError(`subscription refused: ${refusal}`));
          if (event.code === 1000 && subscribed) return finish();
          finish(new Error(`WebSocket closed: ${event.reason || (event.code === 1006 ? 'connection lost' : `close code ${event.code}`)}`));
        });
      });
    },
  };
}
