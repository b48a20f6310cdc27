import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import { SIGNED_IN_TOPIC, SIGNED_IN_USERNAME } from '@devicegate/protocol';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import type { AppContext } from '../context.ts';
import { listen } from '../listeners.ts';
import type { ApplianceModule } from '../modules.ts';
import { deviceCodeHashOf, deviceGrantState, MAX_DEVICE_CODE_LENGTH } from '../device-grants/index.ts';
import { createConnectionLimits } from './connection-limits.ts';
import { grantTopic, mqttDeviceUrl, mqttEndpoint } from './endpoints.ts';
import { encodePushMessage } from './messages.ts';
import { createMqttOutcomes, type BrokerPublisher } from './mqtt-outcomes.ts';
import { createSignedInWatch } from './signed-in.ts';

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes. */
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;
/** A device must ping at least this often (seconds); keepalive 0 (never) is refused. */
const KEEPALIVE_LIMIT_SECONDS = 300;
/** The access token verifier refuses longer tokens unread. */
const MAX_ACCESS_TOKEN_LENGTH = 8192;

/** What the broker knows of an authenticated device: its grant, nothing else. */
type DeviceSession =
  | { kind: 'device-code'; pushKey: string; topic: string; deviceCodeHash: string }
  /** A signed-in device watching its grant (docs/push.md#signed-in-devices). */
  | { kind: 'signed-in'; topic: string; unwatch: () => void };

function connectError(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/**
 * The embedded MQTT broker (aedes), so the quickstart pushes over MQTT with nothing else to run.
 * A device connects with username = its grant's push key (or its client_id) and password = its
 * device code; the broker looks the grant up by the code's hash and refuses anything else. It may
 * then subscribe to its own grant's topic only (no wildcards, nothing else) and never publish:
 * only the appliance publishes, in process. aedes 1.x speaks MQTT 3.1 and 3.1.1; MQTT 5 clients
 * are refused at CONNECT ("unacceptable protocol version") and are served by an external broker.
 */
export function createEmbeddedMqttModule(context: AppContext): ApplianceModule {
  const { store, clock, bus, logger, config, expiry } = context;
  const { mqttHost, mqttPort, maxConnections, maxConnectionsPerAddress, subscribeTimeout } = config.push;
  const limits = createConnectionLimits({ maxConnections, maxConnectionsPerAddress });
  const signedIn = createSignedInWatch(context);
  const sessions = new WeakMap<Client, DeviceSession>();
  const sockets = new Set<Socket>();
  let broker: Aedes | undefined;
  let tcpServer: TcpServer | undefined;
  let unsubscribe: (() => void) | undefined;

  const publisher: BrokerPublisher = {
    publishRetained(topic, payload) {
      // aedes 1.x has no MQTT 5 message expiry: mqtt-outcomes clears the message on schedule.
      return publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false });
    },
    clearRetained(topic) {
      return publish({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 1, retain: true, dup: false });
    },
  };
  // A late subscriber to a decided grant has its outcome republished (authorizeSubscribe), so an
  // `expired` need not stay retained long here: abandoned codes would only hold memory.
  const outcomes = createMqttOutcomes({ publisher, store, clock, logger, expiredRetentionSeconds: Math.min(config.sweepRetention, 60), metrics: context.metrics, channel: 'mqtt-embedded' });

  function publish(packet: PublishPacket): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!broker || broker.closed) return resolve();
      broker.publish(packet, (error) => (error ? reject(error) : resolve()));
    });
  }

  /**
   * A signed-in device: username SIGNED_IN_USERNAME, password its access token, which must be
   * active. Its one allowed subscription is SIGNED_IN_TOPIC, on which nothing is ever routed: the
   * appliance writes `revoked` to this session alone when its grant is revoked, then closes it.
   */
  async function authenticateSignedIn(client: Client, accessToken: string): Promise<void> {
    const watch = await signedIn.watch(accessToken, () => {
      if (client.closed) return;
      client.publish({ cmd: 'publish', topic: SIGNED_IN_TOPIC, payload: Buffer.from(encodePushMessage({ type: 'revoked' })), qos: 1, retain: false, dup: false }, () =>
        client.close(),
      );
    });
    if (!watch) throw connectError(BAD_USERNAME_OR_PASSWORD, 'the access token is not active');
    sessions.set(client, { kind: 'signed-in', topic: SIGNED_IN_TOPIC, unwatch: watch.unwatch });
  }

  async function authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<void> {
    if (username === SIGNED_IN_USERNAME && password && password.length > 0 && password.length <= MAX_ACCESS_TOKEN_LENGTH) {
      return authenticateSignedIn(client, password.toString('utf8'));
    }
    if (!username || !password || password.length === 0 || password.length > MAX_DEVICE_CODE_LENGTH) {
      throw connectError(BAD_USERNAME_OR_PASSWORD, 'a device connects with its push key (or client_id) and device code');
    }
    const deviceCodeHash = deviceCodeHashOf(password.toString('utf8'));
    const grant = await store.deviceGrants.findByDeviceCodeHash(deviceCodeHash);
    // Unknown code, or a username that is not this grant's: the same answer, nothing revealed.
    if (!grant || (username !== grant.pushKey && username !== grant.clientId)) {
      throw connectError(BAD_USERNAME_OR_PASSWORD, 'bad user name or password');
    }
    if (grant.status === 'redeemed') throw connectError(NOT_AUTHORIZED, 'the device code was already used');
    sessions.set(client, { kind: 'device-code', pushKey: grant.pushKey, topic: grantTopic(grant.pushKey), deviceCodeHash });
  }

  /**
   * Exactly the grant's own topic (a wildcard never equals it). Before the subscription is
   * granted, a decided grant's outcome is made sure to be retained, so it is delivered at once
   * even if it was decided before this process started; a pending one has its expiry watched
   * here (the expiry scheduler publishes `expired` on the bus, which publishes it below).
   */
  async function authorizeSubscribe(session: DeviceSession): Promise<boolean> {
    if (session.kind === 'signed-in') return true;
    const grant = await store.deviceGrants.findByDeviceCodeHash(session.deviceCodeHash);
    if (!grant) return false;
    const now = clock.now();
    const state = deviceGrantState(grant, now);
    if (state === 'redeemed') return false;
    if (state === 'pending') expiry.wakeAt(grant.expiresAt);
    else if (outcomes.retainedOutcome(grant.pushKey) !== state) {
      await outcomes.publishOutcome(grant.pushKey, state, grant.id);
    }
    return true;
  }

  function onConnection(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    if (limits.acquire(address) !== 'ok' || !broker) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    context.metrics.pushConnections('mqtt-embedded', 1);
    socket.once('close', () => {
      sockets.delete(socket);
      context.metrics.pushConnections('mqtt-embedded', -1);
      limits.release(address);
    });
    broker.handle(socket);
  }

  const deviceUrl = mqttDeviceUrl(config);
  return {
    name: 'push-mqtt-embedded',
    metadata: () => ({ devicegate_push_mqtt_endpoint: deviceUrl }),
    pushEndpoints: (pushKey) => ({ mqtt: mqttEndpoint(deviceUrl, pushKey) }),
    async start() {
      broker = await Aedes.createBroker({
        // A client that connects and never sends CONNECT is dropped, like a silent WebSocket.
        connectTimeout: subscribeTimeout * 1000,
        keepaliveLimit: KEEPALIVE_LIMIT_SECONDS,
        maxClientsIdLength: 128,
        // A device receives one message; a deep queue only helps a client that does not read.
        queueLimit: 8,
        authenticate(client, username, password, done) {
          authenticate(client, username, password).then(
            () => done(null, true),
            (error: AuthenticateError) => {
              if (typeof error.returnCode !== 'number') {
                logger.error({ err: error }, 'mqtt authentication failed');
                return done(connectError(3, 'server unavailable'), false);
              }
              done(error, false);
            },
          );
        },
        authorizeSubscribe(client, subscription, done) {
          const session = sessions.get(client);
          // done(null, null) answers 0x80 (failure) in SUBACK for this topic alone.
          if (!session || subscription.topic !== session.topic) return done(null, null);
          authorizeSubscribe(session).then(
            (allowed) => done(null, allowed ? { ...subscription, qos: Math.min(subscription.qos, 1) as 0 | 1 } : null),
            (error: unknown) => {
              logger.error({ err: error }, 'mqtt subscription check failed');
              done(null, null);
            },
          );
        },
        // Devices never publish (wills included): only the appliance does, in process.
        authorizePublish(_client, _packet, done) {
          done(new Error('devices may not publish'));
        },
      });
      broker.on('clientError', (_client, error) => logger.debug({ err: error }, 'mqtt client error'));
      broker.on('clientDisconnect', (client) => {
        const session = sessions.get(client);
        if (session?.kind === 'signed-in') session.unwatch();
      });
      signedIn.start();
      unsubscribe = bus.subscribe((event) => {
        // Every event, local or from another instance: this broker's devices are only told here.
        void outcomes.handle(event);
      });
      outcomes.start();
      tcpServer = createServer(onConnection);
      tcpServer.maxConnections = maxConnections;
      await listen(tcpServer, {
        name: 'embedded MQTT broker',
        host: mqttHost,
        port: mqttPort,
        remedy: '--mqtt-port (push.mqttPort, DEVICEGATE_MQTT_PORT), or run without it with --no-mqtt',
      });
      tcpServer.on('error', (error) => logger.error({ err: error }, 'mqtt listener error'));
      logger.info({ host: mqttHost, port: mqttPort }, 'embedded MQTT broker listening');
    },
    ready: () => Boolean(tcpServer?.listening && broker && !broker.closed),
    async stop() {
      unsubscribe?.();
      signedIn.stop();
      outcomes.stop();
      const closed = tcpServer ? new Promise<void>((resolve) => tcpServer!.close(() => resolve())) : Promise.resolve();
      for (const socket of sockets) socket.destroy();
      await closed;
      if (broker) await new Promise<void>((resolve) => broker!.close(() => resolve()));
    },
  };
}
