import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { randomId } from '../secrets.ts';

/** How long the appliance waits for an external broker at startup before it gives up. */
const FIRST_CONNECT_TIMEOUT_MS = 10_000;

export interface ApplianceBrokerOptions {
  url: string;
  username?: string;
  password?: string;
  /** Names the connection in the broker's log: devicegate-<role>-<random>. */
  role: string;
}

/**
 * Connects the appliance itself to an external broker (mosquitto, EMQX, HiveMQ) as its privileged
 * account. MQTT 5, for message expiry on retained outcomes; a clean session, because the
 * appliance keeps nothing on the broker between runs. mqtt.js reconnects by itself afterwards;
 * QoS 1 messages published while it is away are sent once it is back.
 */
export async function connectApplianceClient(options: ApplianceBrokerOptions): Promise<MqttClient> {
  const clientOptions: IClientOptions = {
    clientId: `devicegate-${options.role}-${randomId()}`,
    username: options.username,
    password: options.password,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: FIRST_CONNECT_TIMEOUT_MS,
    keepalive: 30,
  };
  const client = connect(options.url, clientOptions);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from the MQTT broker at ${redactUrl(options.url)} within ${FIRST_CONNECT_TIMEOUT_MS / 1000} s`)), FIRST_CONNECT_TIMEOUT_MS);
      client.once('connect', () => {
        clearTimeout(timer);
        client.off('error', onError);
        resolve();
      });
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(new Error(`the MQTT broker at ${redactUrl(options.url)} refused the appliance: ${error.message}`));
      };
      client.once('error', onError);
    });
  } catch (error) {
    client.end(true);
    throw error;
  }
  return client;
}

/** A broker URL may carry credentials; they never reach a log line or an error message. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = '';
      parsed.password = '';
    }
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}
