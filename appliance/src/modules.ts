import { createMetricsModule, createVerificationPort, type AppContext, type ApplianceModule } from '@devicegate/server';
import { pushModules } from '@devicegate/server/push';
import { createVerificationModule } from '@devicegate/verification-ui';

/**
 * The modules `devicegate serve` runs beside the OAuth core: the verification pages, which reach
 * the server only through their port, the push channels the configuration enables, and the
 * metrics listener when metrics are on. This is the one place that knows both packages
 * (docs/architecture.md).
 */
export function defaultModules(context: AppContext): ApplianceModule[] {
  const modules = [createVerificationModule({ port: createVerificationPort(context) }), ...pushModules(context)];
  if (context.config.metrics.enabled) modules.push(createMetricsModule(context));
  return modules;
}
