// What a device does on the push channels, written plainly with `ws` and `mqtt` so the tests
// read like the protocol (docs/push.md), independent of the device client library.
import assert from 'node:assert/strict';
import { parsePushMessage, type PushMessage } from '@devicegate/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { deviceAuthorize, pollToken, type DeviceAuthorization } from '../server/http.ts';
import type { TestAppliance } from '../support/appliance.ts';

/** Every wait in these tests ends: a missing message fails the test instead of hanging it. */
export const WAIT_MS = 15_000;

export interface PushAuthorization extends DeviceAuthorization {
  push: { websocket?: string; mqtt?: { url: string; topic: string; username?: string } };
}

export async function authorizeDevice(dg: TestAppliance, clientId = 'demo-tv'): Promise<PushAuthorization> {
  const authorization = (await deviceAuthorize(dg, { client_id: clientId, scope: 'openid profile offline_access' })) as PushAuthorization;
  assert.ok(authorization.push, 'the device authorization response has a push object');
  return authorization;
}

export async function approve(dg: TestAppliance, authorization: DeviceAuthorization): Promise<void> {
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
}

export async function deny(dg: TestAppliance, authorization: DeviceAuthorization): Promise<void> {
  assert.equal(await dg.appliance.context.approval.denyUserCode(authorization.user_code, dg.demoUserId), true);
}

/** The one token request a device makes after `approved`: it must yield tokens. */
export async function redeem(dg: TestAppliance, authorization: DeviceAuthorization, clientId = 'demo-tv'): Promise<void> {
  const result = await pollToken(dg, clientId, authorization.device_code);
  assert.equal(result.status, 200, `redemption failed: ${JSON.stringify(result.body)}`);
  assert.ok(result.body.access_token);
}

/** Resolves once `predicate` holds for a value pushed into `items`, or fails after WAIT_MS. */
function waitFor<T>(items: T[], predicate: (item: T) => boolean, what: string, wake: Set<() => void>): Promise<T> {
  const found = items.find(predicate);
  if (found !== undefined) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      wake.delete(check);
      reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(items)}`));
    }, WAIT_MS);
    const check = () => {
      const item = items.find(predicate);
      if (item === undefined) return;
      clearTimeout(timer);
      wake.delete(check);
      resolve(item);
    };
    wake.add(check);
  });
}

export interface WebSocketDevice {
  socket: WebSocket;
  /** Every text frame, parsed (raw text when it is not a push message). */
  messages: Array<PushMessage | string>;
  next(type: PushMessage['type']): Promise<PushMessage>;
  closed(): Promise<{ code: number; reason: string }>;
}

/** Opens the WebSocket; sends `first` (a subscribe with the code, or any raw frame) once open. */
export function openWebSocket(url: string, first?: string | Buffer | { deviceCode: string }, localAddress?: string): Promise<WebSocketDevice> {
  const socket = new WebSocket(url, { perMessageDeflate: false, localAddress });
  const messages: Array<PushMessage | string> = [];
  const wake = new Set<() => void>();
  let closeInfo: { code: number; reason: string } | undefined;
  socket.on('message', (data, isBinary) => {
    const text = isBinary ? `<binary>` : data.toString();
    messages.push(parsePushMessage(text) ?? text);
    for (const check of [...wake]) check();
  });
  const closedPromise = new Promise<{ code: number; reason: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not close; got ${JSON.stringify(messages)}`)), WAIT_MS);
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      closeInfo = { code, reason: reason.toString() };
      resolve(closeInfo);
    });
  });
  closedPromise.catch(() => {});
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('open', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      if (first !== undefined) {
        socket.send(typeof first === 'object' && 'deviceCode' in first ? JSON.stringify({ type: 'subscribe', device_code: first.deviceCode }) : first);
      }
      resolve({
        socket,
        messages,
        next: (type) => waitFor(messages, (m) => typeof m === 'object' && m.type === type, `a "${type}" message`, wake) as Promise<PushMessage>,
        closed: () => closedPromise,
      });
    });
  });
}

/** The HTTP status an upgrade is refused with (or 101 when it is accepted). */
export function upgradeStatus(url: string, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { localAddress });
    socket.on('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.on('open', () => {
      resolve(101);
      socket.terminate();
    });
    socket.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

export interface MqttDevice {
  client: MqttClient;
  /** Payloads received on any topic, in order: [topic, payload text, retain flag, MQTT 5 properties]. */
  received: Array<{ topic: string; payload: string; retain: boolean; properties?: Record<string, unknown> }>;
  /** Subscribes; returns the granted QoS (or reason code) per topic. */
  subscribe(topic: string): Promise<number[]>;
  /** The next push message of `type` on `topic`. */
  next(topic: string, type: PushMessage['type']): Promise<PushMessage>;
  /** Any message on `topic` matching the predicate (an empty payload included). */
  nextRaw(topic: string, predicate: (payload: string) => boolean): Promise<string>;
  end(): Promise<void>;
}

/** Connects like a device; rejects with the CONNACK error when the broker refuses. */
export function connectMqtt(url: string, options: IClientOptions): Promise<MqttDevice> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, clean: true, ...options });
  const received: MqttDevice['received'] = [];
  const wake = new Set<() => void>();
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload: payload.toString('utf8'), retain: packet.retain, properties: packet.properties as Record<string, unknown> | undefined });
    for (const check of [...wake]) check();
  });
  return new Promise((resolve, reject) => {
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
    client.once('connect', () => {
      client.on('error', () => {});
      resolve({
        client,
        received,
        async subscribe(topic) {
          try {
            const granted = await client.subscribeAsync(topic, { qos: 1 });
            return granted.map((grant) => grant.qos);
          } catch (error) {
            // mqtt.js rejects a refused subscription, carrying the SUBACK with its codes.
            const suback = (error as { packet?: { granted?: Array<number | { qos: number }> } }).packet;
            if (!suback?.granted) throw error;
            return suback.granted.map((grant) => (typeof grant === 'number' ? grant : grant.qos));
          }
        },
        async next(topic, type) {
          const item = await waitFor(received, (m) => m.topic === topic && parsePushMessage(m.payload)?.type === type, `"${type}" on ${topic}`, wake);
          return parsePushMessage(item.payload)!;
        },
        async nextRaw(topic, predicate) {
          const item = await waitFor(received, (m) => m.topic === topic && predicate(m.payload), `a message on ${topic}`, wake);
          return item.payload;
        },
        async end() {
          await client.endAsync(true);
        },
      });
    });
  });
}

/** Resolves when the client's connection ends (the broker closed it). */
export function connectionClosed(client: MqttClient): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error('the broker did not close the connection')), WAIT_MS);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
