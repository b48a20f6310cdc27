import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { GrantOutcome, PushMessage } from '@devicegate/protocol';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { GrantEvent } from '../bus/types.ts';
import type { AppContext } from '../context.ts';
import { paths } from '../endpoints/paths.ts';
import type { ApplianceModule } from '../modules.ts';
import { deviceCodeHashOf, deviceGrantState, MAX_DEVICE_CODE_LENGTH, pushKeyOf, secondsLeft } from '../device-grants/index.ts';
import { createConnectionLimits, upgradeAddress } from './connection-limits.ts';
import { websocketUrl } from './endpoints.ts';
import { createDeadlines, type Scheduled } from './deadlines.ts';
import { tracePushDelivery } from '../observability/tracing.ts';
import { encodePushMessage } from './messages.ts';
import { createSignedInWatch } from './signed-in.ts';

/** A subscribe frame is ~80 bytes; 4 KiB leaves room and refuses anything else early. */
const MAX_PAYLOAD_BYTES = 4096;
/**
 * Each connection is pinged every push.pingInterval seconds (a peer that has not answered the
 * previous ping by then is gone), in slices, one every second, so the event loop never writes
 * to ten thousand sockets in one go: that stalled every push behind it for tens of milliseconds
 * every 30 s, the tail of approval to device (docs/performance.md#websocket-pings-in-slices).
 */
const PING_SLICE_MS = 1000;
/** On shutdown, how long closing handshakes may take before sockets are cut. */
const SHUTDOWN_GRACE_MS = 1000;

/** RFC 6455 §7.4.1 close codes. */
const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_POLICY = 1008;
const CLOSE_SERVER_ERROR = 1011;

/**
 * One open connection. Kept small on purpose (docs/performance.md#small-websocket-connections): one
 * object per socket, found from the socket by a property, so the socket's listeners are shared
 * functions rather than closures per connection; the subscribe deadline on the module's shared
 * deadline timer (a grant's expiry comes from the expiry scheduler, per time slot, not per
 * connection); the waiting index holds the connection itself, not a Set per grant.
 */
interface Connection extends Scheduled {
  socket: WebSocket;
  address: string;
  /**
   * new: no subscribe yet; lookup: reading the store; waiting: pending sent (or, for a signed-in
   * device, signed_in sent); done: outcome, revoked or error sent.
   */
  phase: 'new' | 'lookup' | 'waiting' | 'done';
  alive: boolean;
  pushKey: string | undefined;
  /** An outcome that arrived on the bus while the store was being read. */
  early: GrantOutcome | undefined;
  /** A signed-in device's watch of its grant (docs/push.md#signed-in-devices), ended on close. */
  unwatch: (() => void) | undefined;
  /** The Origin of the upgrade: a browser always sends one, a device's WebSocket library does not. */
  origin: string | undefined;
}

const CONNECTION = Symbol('devicegate.push.connection');
type ConnectedSocket = WebSocket & { [CONNECTION]: Connection };
const connectionOf = (socket: WebSocket): Connection => (socket as ConnectedSocket)[CONNECTION];

/**
 * Push over WebSocket (docs/push.md#websocket). The device opens `/push` and sends
 * `{"type":"subscribe","device_code":"..."}` as its first frame: the code never travels in a URL,
 * where proxies log it. The appliance answers `pending` with expires_in, later exactly one of
 * approved/denied/expired, then closes normally. The push only tells the device to make its one
 * token request now; tokens never travel here (RFC 8628 §3.5; docs/security.md PUSH-NO-TOKENS).
 *
 * Waiting connections are indexed by push key in one Map and the module listens on the bus once,
 * so an approval costs one Map lookup however many devices wait.
 */
export function createWebSocketPushModule(context: AppContext): ApplianceModule {
  const { store, clock, bus, logger, config, expiry, metrics } = context;
  const { maxConnections, maxConnectionsPerAddress, maxSubscribersPerDeviceCode, subscribeTimeout, pingInterval } = config.push;
  const limits = createConnectionLimits({ maxConnections, maxConnectionsPerAddress });
  const connections = new Set<Connection>();
  const waiting = new Map<string, Connection | Connection[]>();
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: MAX_PAYLOAD_BYTES,
    // Compression would cost tens of KB per socket for frames of a few dozen bytes.
    perMessageDeflate: false,
  });
  // Due in phase `new`: no subscribe came in time. (Expiry of a waiting grant arrives on the bus,
  // from the expiry scheduler, like every other outcome.)
  const signedIn = createSignedInWatch(context);
  const deadlines = createDeadlines<Connection>({
    onDue(connection) {
      if (connection.phase === 'new') refuse(connection, 'invalid_request', `no subscribe message within ${subscribeTimeout} s`);
    },
  });
  let server: Server | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let draining = false;

  function addWaiting(connection: Connection, pushKey: string): void {
    const entry = waiting.get(pushKey);
    if (entry === undefined) waiting.set(pushKey, connection);
    else if (Array.isArray(entry)) entry.push(connection);
    else waiting.set(pushKey, [entry, connection]);
  }

  function waitingOn(pushKey: string): number {
    const entry = waiting.get(pushKey);
    return entry === undefined ? 0 : Array.isArray(entry) ? entry.length : 1;
  }

  function removeWaiting(connection: Connection): void {
    const pushKey = connection.pushKey;
    if (pushKey === undefined) return;
    const entry = waiting.get(pushKey);
    if (entry === connection) waiting.delete(pushKey);
    else if (Array.isArray(entry)) {
      const rest = entry.filter((other) => other !== connection);
      if (rest.length === 0) waiting.delete(pushKey);
      else waiting.set(pushKey, rest.length === 1 ? rest[0]! : rest);
    }
  }

  function send(connection: Connection, message: PushMessage): void {
    connection.socket.send(encodePushMessage(message));
  }

  /** Ends a connection's wait: one final message, then a close; nothing more is ever sent. */
  function finish(connection: Connection, message: PushMessage, code: number, reason = ''): void {
    if (connection.phase === 'done') return;
    connection.phase = 'done';
    connection.unwatch?.();
    deadlines.cancel(connection);
    removeWaiting(connection);
    send(connection, message);
    connection.socket.close(code, reason);
  }

  function refuse(connection: Connection, error: string, description: string, code = CLOSE_POLICY): void {
    finish(connection, { type: 'error', error, error_description: description }, code);
  }

  function onBusEvent(event: GrantEvent): void {
    // `closed` means redeemed: whoever waited was already told `approved`.
    if (event.type !== 'outcome') return;
    const entry = waiting.get(event.pushKey);
    if (entry === undefined) return;
    for (const connection of Array.isArray(entry) ? [...entry] : [entry]) {
      if (connection.phase === 'lookup') connection.early ??= event.outcome;
      else if (connection.phase === 'waiting') {
        tracePushDelivery('websocket', event, () => finish(connection, { type: event.outcome }, CLOSE_NORMAL));
        metrics.pushDelivered('websocket', (clock.now() - event.at) / 1000);
      }
    }
  }

  /** The first frame: a device code to wait for its outcome, or a signed-in device's access token. */
  function parseSubscribe(data: RawData, isBinary: boolean): { deviceCode: string } | { accessToken: string } | null {
    if (isBinary) return null;
    let value: unknown;
    try {
      value = JSON.parse(data.toString());
    } catch {
      return null;
    }
    if (!value || typeof value !== 'object') return null;
    const { type, device_code: deviceCode, access_token: accessToken } = value as { type?: unknown; device_code?: unknown; access_token?: unknown };
    if (type === 'watch') return typeof accessToken === 'string' && accessToken.length > 0 ? { accessToken } : null;
    if (type !== 'subscribe' || typeof deviceCode !== 'string') return null;
    if (deviceCode.length === 0 || deviceCode.length > MAX_DEVICE_CODE_LENGTH) return null;
    return { deviceCode };
  }

  /**
   * A signed-in device watches its grant: the access token it holds must be active now; then it
   * hears `signed_in`, and `revoked` (and a normal close) when its grant is revoked. The
   * connection stays open until then, kept alive by the pings; the token's own expiry does not
   * end it, since the watch was authenticated when it began.
   */
  async function watchGrant(connection: Connection, accessToken: string): Promise<void> {
    connection.phase = 'lookup';
    const watch = await signedIn.watch(accessToken, () => finish(connection, { type: 'revoked' }, CLOSE_NORMAL));
    if (connection.phase !== 'lookup') return watch?.unwatch(); // closed while reading
    if (!watch) return refuse(connection, 'invalid_token', 'the access token is not active');
    connection.unwatch = watch.unwatch;
    connection.phase = 'waiting';
    send(connection, { type: 'signed_in' });
  }

  async function subscribe(connection: Connection, deviceCode: string): Promise<void> {
    const deviceCodeHash = deviceCodeHashOf(deviceCode);
    // The push key is derived without the store, so the connection joins the index before the
    // read: an approval committed while the read runs is kept in `early`, never lost.
    const pushKey = pushKeyOf(deviceCodeHash);
    // One device waits on its code, perhaps twice for a moment while a dropped connection is
    // still being noticed; a code with more waiting is held by someone fanning out (PUSH-BOUNDED).
    if (waitingOn(pushKey) >= maxSubscribersPerDeviceCode) {
      return refuse(connection, 'slow_down', `at most ${maxSubscribersPerDeviceCode} connections may wait on one device code`);
    }
    connection.pushKey = pushKey;
    connection.phase = 'lookup';
    addWaiting(connection, pushKey);
    const grant = await store.deviceGrants.findByDeviceCodeHash(deviceCodeHash);
    if (connection.phase !== 'lookup') return; // closed while reading
    if (!grant) return refuse(connection, 'invalid_grant', 'the device code is invalid');
    // docs/security.md CORS-ORIGIN: a page on an origin the grant's client does not list learns
    // nothing about the grant, as at the token endpoint.
    if (connection.origin !== undefined) {
      const client = await store.clients.get(grant.clientId);
      if (connection.phase !== 'lookup') return;
      if (!client?.allowedOrigins.includes(connection.origin)) {
        return refuse(connection, 'unauthorized_client', 'this client may not be used from this web origin');
      }
    }
    const now = clock.now();
    const state = deviceGrantState(grant, now);
    // Mirrors the token endpoint: a used code is spent, its tokens were already issued.
    if (state === 'redeemed') return refuse(connection, 'invalid_grant', 'the device code was already used');
    if (state !== 'pending') return finish(connection, { type: state }, CLOSE_NORMAL);
    send(connection, { type: 'pending', expires_in: secondsLeft(grant, now) });
    if (connection.early) return finish(connection, { type: connection.early }, CLOSE_NORMAL);
    connection.phase = 'waiting';
    // The grant may come from another instance, which may be gone: watch its expiry here too.
    expiry.wakeAt(grant.expiresAt);
  }

  // The socket's listeners, shared by every connection (`this` is the socket).
  function onPong(this: WebSocket): void {
    connectionOf(this).alive = true;
  }

  function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const connection = connectionOf(this);
    if (connection.phase !== 'new') {
      return refuse(connection, 'invalid_request', 'only one subscribe message is allowed');
    }
    const first = parseSubscribe(data, isBinary);
    if (first === null) {
      return refuse(connection, 'invalid_request', 'the first message must be {"type":"subscribe","device_code":"..."} or {"type":"watch","access_token":"..."}');
    }
    deadlines.cancel(connection);
    const subscribed = 'deviceCode' in first ? subscribe(connection, first.deviceCode) : watchGrant(connection, first.accessToken);
    subscribed.catch((error: unknown) => {
      logger.error({ err: error }, 'push subscription failed');
      refuse(connection, 'server_error', 'the subscription could not be completed', CLOSE_SERVER_ERROR);
    });
  }

  // Too large a frame or a protocol violation: ws closes the socket itself (1009, 1002).
  function onSocketError(error: Error): void {
    logger.debug({ err: error }, 'push websocket error');
  }

  function onClose(this: WebSocket): void {
    const connection = connectionOf(this);
    connection.phase = 'done';
    connection.unwatch?.();
    deadlines.cancel(connection);
    removeWaiting(connection);
    connections.delete(connection);
    metrics.pushConnections('websocket', -1);
    limits.release(connection.address);
  }

  function onConnection(socket: WebSocket, address: string, origin: string | undefined): void {
    const connection: Connection = { socket, address, phase: 'new', alive: true, deadline: undefined, pushKey: undefined, early: undefined, unwatch: undefined, origin };
    (socket as ConnectedSocket)[CONNECTION] = connection;
    connections.add(connection);
    metrics.pushConnections('websocket', 1);
    deadlines.schedule(connection, subscribeTimeout * 1000);
    socket.on('pong', onPong);
    socket.on('message', onMessage);
    socket.on('error', onSocketError);
    socket.on('close', onClose);
  }

  function rejectUpgrade(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  function onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = (request.url ?? '/').split('?', 1)[0];
    if (pathname !== paths.pushWebSocket) {
      // Another module may own this path; with none, nobody would ever answer.
      if (server && server.listenerCount('upgrade') <= 1) rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (draining) return rejectUpgrade(socket, 503, 'Service Unavailable');
    const address = upgradeAddress(request, config.trustProxy);
    const verdict = limits.acquire(address);
    if (verdict === 'total') return rejectUpgrade(socket, 503, 'Service Unavailable');
    if (verdict === 'address') return rejectUpgrade(socket, 429, 'Too Many Requests');
    let upgraded = false;
    socket.once('close', () => {
      if (!upgraded) limits.release(address);
    });
    wss.handleUpgrade(request, socket, head, (ws) => {
      upgraded = true;
      onConnection(ws, address, typeof request.headers.origin === 'string' ? request.headers.origin : undefined);
    });
  }

  // A live iterator over the open connections: each slice goes on where the last one stopped
  // (a Set's iterator skips connections closed since and reaches those added since).
  let pingCursor = connections.values();
  function pingSlice(): void {
    const count = Math.ceil((connections.size * PING_SLICE_MS) / (pingInterval * 1000));
    for (let pinged = 0; pinged < count; pinged++) {
      const next = pingCursor.next();
      if (next.done) {
        // A round is over; the next one starts with the next slice, not in this one.
        pingCursor = connections.values();
        return;
      }
      const connection = next.value;
      if (!connection.alive) {
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }

  const url = websocketUrl(config);
  return {
    name: 'push-websocket',
    metadata: () => ({ devicegate_push_websocket_endpoint: url }),
    pushEndpoints: () => ({ websocket: url }),
    async start(httpServer) {
      server = httpServer;
      unsubscribe = bus.subscribe(onBusEvent);
      signedIn.start();
      httpServer.on('upgrade', onUpgrade);
      pingTimer = setInterval(pingSlice, PING_SLICE_MS);
      pingTimer.unref();
    },
    ready: () => server !== undefined && !draining,
    async stop() {
      draining = true;
      unsubscribe?.();
      signedIn.stop();
      clearInterval(pingTimer);
      server?.off('upgrade', onUpgrade);
      const open = [...connections];
      deadlines.stop();
      for (const connection of open) {
        connection.phase = 'done';
        connection.socket.close(CLOSE_GOING_AWAY, 'server shutting down');
      }
      // Bounded wait for the closing handshakes, then whatever is left is cut.
      const until = Date.now() + SHUTDOWN_GRACE_MS;
      while (connections.size > 0 && Date.now() < until) await delay(20);
      for (const connection of connections) connection.socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
