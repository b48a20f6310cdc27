import type { DeviceCliEvent } from '@devicegate/protocol';
import { oneLine } from '../core/errors.ts';

/** What the CLI touches of its process, passed in so tests can run it in-process too. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Aborts on SIGINT/SIGTERM. */
  signal?: AbortSignal;
}

export interface Output {
  json: boolean;
  /** A line for a person (nothing in --json mode). */
  info(text: string): void;
  /** One DeviceCliEvent as one JSON line (only in --json mode). */
  event(event: DeviceCliEvent): void;
  /** One readable line on stderr, and in --json mode an `error` event on stdout too. */
  error(error: string, message: string): void;
}

export function createOutput(io: CliIo, json: boolean): Output {
  return {
    json,
    info(text) {
      if (!json) io.stdout.write(`${text}\n`);
    },
    event(event) {
      if (json) io.stdout.write(`${JSON.stringify(event)}\n`);
    },
    error(error, message) {
      const line = oneLine(message);
      if (json) io.stdout.write(`${JSON.stringify({ event: 'error', error, message: line } satisfies DeviceCliEvent)}\n`);
      io.stderr.write(`devicegate-device: ${line}\n`);
    },
  };
}
