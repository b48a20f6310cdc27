import { randomBytes } from 'node:crypto';
import { parsePushMessage, SIGNED_IN_TOPIC, SIGNED_IN_USERNAME } from '@devicegate/protocol';
import { connect } from 'mqtt';
import { PushRefusedError, type PushTransport } from '../core/push/transport.ts';
import type { PushTls } from './tls.ts';

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * devicegate's MQTT push (docs/push.md): username = the grant's push key
 * (`push.mqtt.username`; the client_id where an older appliance gave none, which only its embedded
 * broker accepts), password = device_code, clean session, QoS 1 subscription to exactly this
 * grant's topic. The outcome may already be waiting there as a retained message. Payloads are the
 * same JSON as on the WebSocket. `tls.ca` adds trust anchors for an mqtts:// broker with a private CA.
 */
export function mqttTransport(
  target: { url: string; topic: string; username?: string },
  clientId: string,
  deviceCode: string,
  tls: PushTls = {},
): PushTransport {
  return mqttChannel({ url: target.url, topic: target.topic, username: target.username ?? clientId, password: deviceCode }, tls);
}

/**
 * A signed-in device's watch of its grant on the embedded broker (docs/push.md#signed-in-devices):
 * username SIGNED_IN_USERNAME, password the access token, one subscription to SIGNED_IN_TOPIC, on
 * which the appliance writes `revoked` to this session alone.
 */
export function signedInMqttTransport(url: string, accessToken: string, tls: PushTls = {}): PushTransport {
  return mqttChannel({ url, topic: SIGNED_IN_TOPIC, username: SIGNED_IN_USERNAME, password: accessToken }, tls);
}

function mqttChannel(target: { url: string; topic: string; username: string; password: string }, tls: PushTls): PushTransport {
  return {
    channel: 'mqtt',
    listen(handlers, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal.aborted) return resolve();
        const client = connect(target.url, {
          clientId: `devicegate-device-${randomBytes(6).toString('hex')}`,
          username: target.username,
          password: target.password,
          clean: true,
          // The runner reconnects with backoff and jitter; mqtt.js's fixed period would not.
          reconnectPeriod: 0,
          connectTimeout: CONNECT_TIMEOUT_MS,
          keepalive: 30,
          ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        });
        let settled = false;
        const finish = (error?: Error) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          client.removeAllListeners('message');
          client.end(true);
          if (error) reject(error);
          else resolve();
        };
        const onAbort = () => finish();
        signal.addEventListener('abort', onAbort, { once: true });
        client.on('connect', () => {
          client.subscribe(target.topic, { qos: 1 }, (error, granted) => {
            if (settled) return;
            if (error) return finish(error);
            // MQTT 3.1.1 §3.9.3: 0x80 in SUBACK is a refusal (v5 uses reason codes >= 0x80).
            if (!granted || granted.length === 0 || granted.some((grant) => grant.qos >= 0x80)) {
              return finish(new PushRefusedError(`subscription to ${target.topic} refused`));
            }
            handlers.onSubscribed();
          });
        });
        client.on('message', (topic, payload) => {
          if (topic !== target.topic) return;
          const message = parsePushMessage(payload.toString('utf8'));
          if (!message) return;
          if (message.type === 'error') {
            return finish(new PushRefusedError(`push error: ${message.error}`));
          }
          handlers.onMessage(message);
        });
        client.on('error', (error) => {
          // CONNACK "bad user name or password" / "not authorized" will not change on retry.
          const code = (error as { code?: number }).code;
          if (code === 4 || code === 5 || code === 134 || code === 135) {
            return finish(new PushRefusedError(`MQTT connection refused: ${error.message}`));
          }
          finish(error);
        });
        client.on('close', () => finish(new Error('MQTT connection closed')));
      });
    },
  };
}
