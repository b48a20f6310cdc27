import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../../device-client/src/cli/program.ts';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'device-client', 'bin', 'devicegate-device.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI in this process: fast, and the same code the binary runs. */
export async function cliInProcess(argv: string[], env: Record<string, string | undefined>, signal?: AbortSignal): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
    ...(signal ? { signal } : {}),
  });
  return { code, stdout, stderr };
}

/**
 * A real process of `command` (the bin shim by default, or the single executable), with only
 * the given environment plus PATH and HOME. Calls onStdoutLine for every line as it comes.
 */
export function cliProcess(
  argv: string[],
  env: Record<string, string | undefined>,
  options: {
    command?: string[];
    onStdoutLine?: (line: string) => void;
    onSpawn?: (child: { kill(signal: NodeJS.Signals): void }) => void;
    timeoutMs?: number;
    signal?: AbortSignal;
  } = {},
): Promise<CliResult> {
  const [file, ...prefix] = options.command ?? [process.execPath, BIN];
  return new Promise((resolve, reject) => {
    const child = spawn(file!, [...prefix, ...argv], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    let pending = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    // A test that ends (or fails) early takes its command with it.
    const stop = () => child.kill('SIGTERM');
    options.signal?.addEventListener('abort', stop, { once: true });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        options.onStdoutLine?.(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', stop);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}
