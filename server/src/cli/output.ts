import { DevicegateError } from '../errors.ts';

/**
 * A user-facing CLI failure: printed as one line, exit code chosen by the command (2 for usage and
 * configuration errors, code `usage`; else 1, code `failed`).
 */
export class CliError extends DevicegateError {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(exitCode === 2 ? 'usage' : 'failed', message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Reads a secret from standard input (first line, trailing newline dropped). */
export async function readSecretFromStdin(stdin: NodeJS.ReadableStream, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    if (Buffer.concat(chunks).length > 4096) throw new CliError(`${what} on stdin is too long`);
  }
  const value = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (value === '') throw new CliError(`expected the ${what} on standard input`);
  return value;
}

/** Aligned plain-text table for list commands. */
export function table(rows: Record<string, string>[]): string {
  if (rows.length === 0) return '(none)\n';
  const headers = Object.keys(rows[0]!);
  const widths = headers.map((header) => Math.max(header.length, ...rows.map((row) => (row[header] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map((row) => line(headers.map((h) => row[h] ?? '')))].join('\n') + '\n';
}
