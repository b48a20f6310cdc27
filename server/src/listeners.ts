import type { Server } from 'node:net';
import { DevicegateError } from './errors.ts';

/**
 * A socket the appliance was asked to open: the HTTP listener, the embedded MQTT broker, and any
 * later one (metrics). `remedy` tells the operator which setting moves or turns it off, so the one
 * line `serve` prints on failure says what to do, not only what broke.
 */
export interface ListenerSpec {
  /** What it is, for a person: "HTTP listener", "embedded MQTT broker". */
  name: string;
  host: string;
  port: number;
  /** The settings that move or disable it, e.g. "--mqtt-port (DEVICEGATE_MQTT_PORT), or --no-mqtt". */
  remedy: string;
}

/** A listener could not be opened: `serve` stops everything it opened and exits with this line. */
export class ListenerError extends DevicegateError {
  readonly listener: ListenerSpec;

  constructor(listener: ListenerSpec, cause: unknown) {
    super('listener_failed', describeFailure(listener, cause), { cause });
    this.name = 'ListenerError';
    this.listener = listener;
  }
}

function describeFailure(listener: ListenerSpec, cause: unknown): string {
  const host = listener.host.includes(':') ? `[${listener.host}]` : listener.host;
  const where = `cannot open the ${listener.name} on ${host}:${listener.port}`;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EADDRINUSE':
      return `${where}: the port is already in use (another devicegate, or another program); stop that one, or choose another port with ${listener.remedy}`;
    case 'EACCES':
      return `${where}: permission denied (ports below 1024 need privileges); choose another port with ${listener.remedy}`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return `${where}: this machine has no such address; choose another with ${listener.remedy}`;
    default:
      return `${where}: ${(cause as Error | undefined)?.message ?? String(cause)}; check ${listener.remedy}`;
  }
}

/** Listens, turning a failure into a ListenerError that names the listener and the remedy. */
export function listen(server: Server, listener: ListenerSpec): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(new ListenerError(listener, error));
    server.once('error', onError);
    server.listen(listener.port, listener.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
