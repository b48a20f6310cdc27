import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config.ts';
import { createInProcessBus } from './in-process.ts';
import { createMqttBus } from './mqtt-bus.ts';
import type { EventBus } from './types.ts';

/**
 * The configured grant event bus. `auto`: through the external MQTT broker when one is
 * configured (several instances then share it), else through PostgreSQL when the store is there
 * (instances sharing a database share events too), else in process (one instance, the embedded
 * default). `mqtt` requires an external broker: the embedded one lives inside one instance.
 * `postgres` uses LISTEN/NOTIFY on the configured database (no broker needed); `pg` is loaded
 * only then.
 */
export async function openBus(config: Config, logger: Logger): Promise<EventBus> {
  const { bus, mqttUrl, mqttUsername, mqttPassword } = config.push;
  const kind = bus === 'auto' ? (mqttUrl ? 'mqtt' : config.databaseUrl ? 'postgres' : 'memory') : bus;
  switch (kind) {
    case 'memory':
      return createInProcessBus((error) => logger.error({ err: error }, 'bus listener failed'));
    case 'mqtt':
      if (!mqttUrl) throw new ConfigError('invalid configuration: push.bus "mqtt" needs push.mqttUrl (an external broker)');
      return createMqttBus({ url: mqttUrl, username: mqttUsername, password: mqttPassword, logger });
    case 'postgres': {
      if (!config.databaseUrl) throw new ConfigError('invalid configuration: push.bus "postgres" needs databaseUrl');
      const { createPostgresBus } = await import('./postgres-bus.ts');
      return createPostgresBus({ connectionString: config.databaseUrl, logger });
    }
    default:
      throw new ConfigError(`invalid configuration: push.bus "${kind}" is not available in this build`);
  }
}
