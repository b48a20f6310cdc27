import { startAppliance, startTracingFromEnvironment, type CliIo, type Config } from '@devicegate/server';
import { defaultModules } from './modules.ts';

/** `devicegate serve`: start, print where, drain on SIGTERM/SIGINT. */
export async function runServe(config: Config, io: CliIo): Promise<void> {
  // OpenTelemetry only when the standard OTEL_* variables ask for traces; the SDK loads only then.
  const tracing = await startTracingFromEnvironment(io.env);
  const appliance = await startAppliance(config, { tracing: tracing !== undefined, modules: (context) => defaultModules(context) });
  if (tracing) appliance.context.logger.info({ exporter: io.env.OTEL_TRACES_EXPORTER ?? 'otlp' }, 'OpenTelemetry tracing on');
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      appliance.context.logger.info({ signal }, 'shutting down');
      appliance
        .stop()
        .then(() => tracing?.shutdown())
        .then(resolve, (error) => {
          appliance.context.logger.error({ err: error }, 'shutdown failed');
          resolve();
        });
    };
    // Handlers before the announcement: a supervisor (or test) may signal the moment it reads
    // "listening", and a signal with no handler yet would kill the process instead of draining.
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    io.stdout(`devicegate listening on ${appliance.url} (issuer ${config.issuer})\n`);
    io.stdout(`verification page: ${config.issuer}${config.verificationPath}\n`);
    // What a TV shows people: the verification URI without its scheme (RFC 8628 §3.3).
    io.stdout(`short address: ${config.verificationUri.replace(/^https?:\/\//, '')}\n`);
    if (appliance.demoPassword) {
      // Printed once, on first start only; it is not stored anywhere in clear.
      io.stdout(`demo client: demo-tv   demo user: demo   password: ${appliance.demoPassword}\n`);
    }
    if (appliance.demoUser) io.stdout(`demo user: demo   lost its password? set a new one: ${resetCommand(config)}\n`);
  });
}

/**
 * How to give the demo user a new password when the printed one is gone (a lost terminal, a start
 * killed before it printed): the admin command, against the same state as this appliance.
 */
function resetCommand(config: Config): string {
  const where = config.databaseUrl ? ' --database-url "$DEVICEGATE_DATABASE_URL"' : ` --data-dir ${shellWord(config.dataDir)}`;
  return `devicegate users passwd demo --password-stdin${where}`;
}

const shellWord = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);
