import type { Logger } from 'pino';
import type { MqttClient } from 'mqtt';
import type { Clock } from '../clock.ts';
import { randomId } from '../secrets.ts';
import { grantTopic } from './endpoints.ts';
import { MQTT_TOPIC_PREFIX } from '@devicegate/protocol';

/** mosquitto's dynamic security plugin takes commands here and answers on `${CONTROL}/response`. */
const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
const RESPONSE_TOPIC = `${CONTROL_TOPIC}/response`;
/** The appliance's own publish rights (the admin role of `mosquitto_ctrl dynsec init` has none). */
export const APPLIANCE_ROLE = 'devicegate-appliance';
/** An expired grant's broker client goes this long after the `expired` message (see removeGrantSoon). */
const REMOVE_AFTER_EXPIRED_MS = 5000;
/** How often the broker's own list of grant roles is swept for ones no instance will delete. */
const RECONCILE_MS = 5 * 60_000;
/** Roles listed per control message while sweeping (a verbose role is a few hundred bytes). */
const RECONCILE_PAGE = 500;
/** A grant role's description: when its grant expires, so any instance can tell a leftover. */
const EXPIRY_DESCRIPTION = /^expires-at:(\d{1,15})$/;

interface DynsecCommand {
  command: string;
  [field: string]: unknown;
}

const GRANT_ROLE_PREFIX = 'grant-';
/** The role of one grant: its name is derived from the push key, like the client's username. */
export function grantRole(pushKey: string): string {
  return `${GRANT_ROLE_PREFIX}${pushKey}`;
}

/**
 * Broker accounts per grant on mosquitto's dynamic security plugin (push.mqttAuth = dynsec;
 * docs/push.md). At device authorization the appliance, the plugin's admin, creates a client
 * (username = push key, password = device code) whose only role lets it subscribe to and receive
 * its grant's topic: mosquitto then refuses a wrong device code at CONNECT and a wildcard or
 * foreign subscription in SUBACK, as the embedded broker does. The client and its role are deleted
 * once the code is redeemed (`closed`) or expired, whichever instance sees it.
 */
export function createDynsecAccounts(deps: { client: () => MqttClient | undefined; clock: Clock; logger: Logger; waitMs: number }) {
  const { clock, logger } = deps;
  /** Correlation data → the waiter for its response. */
  const waiting = new Map<string, (error: string | undefined, data?: unknown) => void>();
  /** Push key → when to delete its broker client: expired grants, whose device is told first. */
  const deleteSoon = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;

  function onMessage(topic: string, payload: Buffer): void {
    if (topic !== RESPONSE_TOPIC) return;
    let responses: Array<{ correlationData?: string; error?: string; data?: unknown }> = [];
    try {
      responses = (JSON.parse(payload.toString('utf8')) as { responses?: typeof responses }).responses ?? [];
    } catch {
      return;
    }
    for (const response of responses) {
      const resolve = response.correlationData ? waiting.get(response.correlationData) : undefined;
      if (resolve) resolve(response.error, response.data);
    }
  }

  /**
   * Sends commands in one control message and waits up to `waitMs` for all their answers. Errors
   * come back per command (e.g. "Role already exists"); a missing answer is `timeout`.
   */
  async function send(commands: DynsecCommand[], waitMs: number): Promise<Array<string | undefined>> {
    return (await sendForData(commands, waitMs)).map((answer) => answer.error);
  }

  async function sendForData(commands: DynsecCommand[], waitMs: number): Promise<Array<{ error?: string; data?: unknown }>> {
    const client = deps.client();
    if (!client) return commands.map(() => ({ error: 'not connected' }));
    const ids = commands.map(() => randomId());
    const answers = ids.map(
      (id) =>
        new Promise<{ error?: string; data?: unknown }>((resolve) => {
          const timeout = setTimeout(() => {
            waiting.delete(id);
            resolve({ error: 'timeout' });
          }, waitMs);
          waiting.set(id, (error, data) => {
            clearTimeout(timeout);
            waiting.delete(id);
            resolve({ error, data });
          });
        }),
    );
    const message = JSON.stringify({ commands: commands.map((command, index) => ({ ...command, correlationData: ids[index] })) });
    await client.publishAsync(CONTROL_TOPIC, message, { qos: 1 });
    return Promise.all(answers);
  }

  async function remove(pushKey: string): Promise<void> {
    deleteSoon.delete(pushKey);
    const errors = await send([{ command: 'deleteClient', username: pushKey }, { command: 'deleteRole', rolename: grantRole(pushKey) }], 10_000);
    const failed = errors.filter((error) => error && !/not found/i.test(error));
    if (failed.length > 0) logger.warn({ errors: failed }, 'deleting a grant broker client failed');
  }

  /**
   * Accounts outlive the process that made them when it crashes (or is killed) before their
   * grant closed, and with several instances the one that made an account may be gone for good.
   * So the broker's own list is the record: each grant role carries its grant's expiry, and any
   * instance deletes the roles (and clients) whose grant has expired. Live ones are left alone;
   * a role without a readable expiry is not ours to judge and is left too.
   */
  async function reconcile(): Promise<{ deleted: number }> {
    const now = clock.now();
    const expired: string[] = [];
    for (let offset = 0; ; offset += RECONCILE_PAGE) {
      const [page] = await sendForData([{ command: 'listRoles', verbose: true, count: RECONCILE_PAGE, offset }], 10_000);
      if (page?.error) throw new Error(`listing the broker's roles failed: ${page.error}`);
      const roles = (page?.data as { roles?: Array<{ rolename?: unknown; textdescription?: unknown }> } | undefined)?.roles ?? [];
      for (const role of roles) {
        if (typeof role.rolename !== 'string' || !role.rolename.startsWith(GRANT_ROLE_PREFIX)) continue;
        const expiry = typeof role.textdescription === 'string' ? EXPIRY_DESCRIPTION.exec(role.textdescription) : null;
        if (expiry && Number(expiry[1]) <= now) expired.push(role.rolename.slice(GRANT_ROLE_PREFIX.length));
      }
      if (roles.length < RECONCILE_PAGE) break;
    }
    // Deleting shifts the later pages, so the list is read in full first.
    for (const pushKey of expired) await remove(pushKey);
    if (expired.length > 0) logger.info({ deleted: expired.length }, 'deleted broker clients of expired grants');
    return { deleted: expired.length };
  }

  return {
    /** Subscribes to the plugin's answers; call once the client is connected. */
    async attach(client: MqttClient): Promise<void> {
      client.on('message', onMessage);
      await client.subscribeAsync(RESPONSE_TOPIC, { qos: 1 });
    },
    /**
     * The appliance's own rights and the default access, idempotent: publish outcomes and bus
     * events; devices receive nothing their role does not allow (the plugin's default allows it).
     */
    async prepareBroker(): Promise<void> {
      const client = deps.client();
      const username = client?.options.username;
      const errors = await send(
        [
          {
            command: 'createRole',
            rolename: APPLIANCE_ROLE,
            acls: [
              { acltype: 'publishClientSend', topic: `${MQTT_TOPIC_PREFIX}+`, allow: true },
              { acltype: 'publishClientSend', topic: 'devicegate/bus/#', allow: true },
              { acltype: 'publishClientReceive', topic: 'devicegate/bus/#', allow: true },
              { acltype: 'subscribePattern', topic: 'devicegate/bus/#', allow: true },
            ],
          },
          { command: 'setDefaultACLAccess', acls: [{ acltype: 'publishClientReceive', allow: false }, { acltype: 'subscribe', allow: false }, { acltype: 'publishClientSend', allow: false }] },
        ],
        10_000,
      );
      const failed = errors.filter((error) => error && !/already/i.test(error));
      if (failed.length > 0) throw new Error(`the dynamic security plugin refused the appliance's setup: ${failed.join('; ')} (is push.mqttUsername its admin?)`);
      const [own] = await sendForData([{ command: 'getClient', username }], 10_000);
      const roles = (own?.data as { client?: { roles?: Array<{ rolename: string }> } } | undefined)?.client?.roles ?? [];
      if (own?.error || !client) throw new Error(`the dynamic security plugin did not describe the appliance's account: ${own?.error}`);
      if (roles.some((role) => role.rolename === APPLIANCE_ROLE)) return;
      // First start on this broker: the plugin disconnects a client whose roles change, so no
      // answer comes; mqtt.js reconnects (and resubscribes) by itself.
      const reconnected = new Promise<void>((resolve, reject) => {
        const timeout = setTimeout(() => reject(new Error('the broker did not take the appliance back after giving it its role')), 10_000);
        client.once('connect', () => {
          clearTimeout(timeout);
          resolve();
        });
      });
      await client.publishAsync(CONTROL_TOPIC, JSON.stringify({ commands: [{ command: 'addClientRole', username, rolename: APPLIANCE_ROLE }] }), { qos: 1 });
      await reconnected;
      // Resubscription to the answers follows the reconnect.
      await client.subscribeAsync(RESPONSE_TOPIC, { qos: 1 });
    },
    /**
     * Creates the grant's broker client before the device is told where to connect. Waits at most
     * `waitMs` for the broker: past that the answer goes out anyway, and a device that connects
     * before the broker caught up is refused once and retries (or polls).
     */
    async addGrant(pushKey: string, deviceCode: string, expiresAt: number): Promise<void> {
      const topic = grantTopic(pushKey);
      const role = grantRole(pushKey);
      // A broker that is away must not fail device authorization: the device still polls.
      const errors = await send(
        [
          {
            command: 'createRole',
            rolename: role,
            // Read back by reconcile(): a role whose grant has expired is a leftover to delete.
            textdescription: `expires-at:${expiresAt}`,
            acls: [
              { acltype: 'subscribeLiteral', topic, allow: true },
              { acltype: 'publishClientReceive', topic, allow: true },
            ],
          },
          { command: 'createClient', username: pushKey, password: deviceCode, roles: [{ rolename: role }] },
        ],
        deps.waitMs,
      ).catch((error: unknown) => [error instanceof Error ? error.message : String(error)]);
      // waitMs 0: answer at once by choice, nothing to report.
      const failed = deps.waitMs > 0 ? errors.filter(Boolean) : [];
      if (failed.length > 0) logger.warn({ errors: failed }, 'creating a grant broker client did not complete in time');
    },
    /** Deletes the grant's broker client and role (redeemed or expired). */
    removeGrant(pushKey: string): Promise<void> {
      return remove(pushKey);
    },
    /**
     * Expired: deleting the client kicks a connected device, possibly before the `expired` message
     * published just now reaches it. Delete it at the next check instead, a few seconds on.
     */
    removeGrantSoon(pushKey: string): void {
      deleteSoon.set(pushKey, clock.now() + REMOVE_AFTER_EXPIRED_MS);
    },
    reconcile,
    /**
     * Deletes the accounts of expired grants once their device has been told, and sweeps the
     * broker now and every few minutes for accounts nobody remembers. (A grant decided but never
     * redeemed is closed by the expiry scheduler, like a redeemed one: removeGrant.)
     */
    start(): void {
      timer = setInterval(() => {
        const now = clock.now();
        for (const [pushKey, deleteAt] of deleteSoon) {
          if (deleteAt <= now) void remove(pushKey).catch((error: unknown) => logger.error({ err: error }, 'deleting a grant broker client failed'));
        }
      }, REMOVE_AFTER_EXPIRED_MS);
      timer.unref();
      const sweep = () => void reconcile().catch((error: unknown) => logger.warn({ err: error }, 'sweeping the broker for expired grant clients failed'));
      reconcileTimer = setInterval(sweep, RECONCILE_MS);
      reconcileTimer.unref();
      sweep();
    },
    stop(): void {
      clearInterval(timer);
      clearInterval(reconcileTimer);
      for (const resolve of waiting.values()) resolve('stopped');
    },
  };
}

export type DynsecAccounts = ReturnType<typeof createDynsecAccounts>;
