import type { AppContext } from '../context.ts';
import type { ApplianceModule } from '../modules.ts';
import { createEmbeddedMqttModule } from './mqtt-embedded.ts';
import { createExternalMqttModule } from './mqtt-external.ts';
import { createWebSocketPushModule } from './websocket.ts';

/**
 * The push channels the configuration enables (docs/push.md): the WebSocket at /push,
 * and MQTT through an external broker when push.mqttUrl is set, else the embedded one unless
 * push.mqttEmbedded is false.
 */
export function pushModules(context: AppContext): ApplianceModule[] {
  const { push } = context.config;
  const modules: ApplianceModule[] = [];
  if (push.websocket) modules.push(createWebSocketPushModule(context));
  if (push.mqttUrl) modules.push(createExternalMqttModule(context));
  else if (push.mqttEmbedded) modules.push(createEmbeddedMqttModule(context));
  return modules;
}

export { grantTopic } from './endpoints.ts';
