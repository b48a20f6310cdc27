import type { AppContext } from './context.ts';
import type { ApplianceModule } from './modules.ts';
import { createVerificationModule } from '@devicegate/verification-ui';
import { pushModules } from './push/index.ts';

/**
 * The modules `devicegate serve` runs beside the OAuth core. The verification pages and the
 * push channels (WebSocket, MQTT) register here.
 */
export function defaultModules(context: AppContext): ApplianceModule[] {
  return [createVerificationModule(), ...pushModules(context)];
}
