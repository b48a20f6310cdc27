// The device client on a small board: how long from starting `devicegate-device login` to its
// code being on screen (process start, discovery, device authorization), and its peak memory.
// Measured twice: run from source through tsx (development), and bundled into one file with
// esbuild the way the single executable is built (what a device runs).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { summarize, type LatencySummary } from '@devicegate/simulators';
import { repoDir } from './processes.ts';

export interface DeviceClientFigures {
  variant: string;
  startToCode: LatencySummary;
  /** Peak resident memory (VmHWM) in bytes, the largest of the runs. */
  peakRss: number;
}

/** The CLI bundled like scripts/build-sea.mjs does (CommonJS, ws's native extras left out). */
export async function bundleDeviceCli(): Promise<string> {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'devicegate-bench-cli-')), 'devicegate-device.cjs');
  await build({
    entryPoints: [path.join(repoDir, 'device-client', 'src', 'cli', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: out,
    external: ['bufferutil', 'utf-8-validate'],
    define: { 'process.env.WS_NO_BUFFER_UTIL': '"1"', 'process.env.WS_NO_UTF_8_VALIDATE': '"1"' },
    minifySyntax: true,
    logLevel: 'error',
  });
  return out;
}

function peakRssOf(pid: number): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** One login until the code event, bounded; then the process is ended. */
function oneRun(command: string[], issuer: string, clientId: string): Promise<{ ms: number; peakRss: number }> {
  const state = mkdtempSync(path.join(tmpdir(), 'devicegate-bench-device-'));
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...command, 'login', '--json', '--no-qr', '--issuer', issuer, '--client-id', clientId, '--channel', 'websocket', '--state-dir', state, '--key-file', path.join(state, 'device.key')], {
      cwd: repoDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no code within 30 s: ${err.slice(0, 200)}`));
    }, 30_000);
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!out.includes('"event":"code"')) return;
      const ms = performance.now() - started;
      // Its peak so far, plus a moment waiting on the push channel.
      setTimeout(() => {
        const peakRss = peakRssOf(child.pid!);
        clearTimeout(timer);
        child.kill('SIGTERM');
        resolve({ ms, peakRss });
      }, 300);
      out = '';
    });
    child.on('exit', (code) => {
      if (code !== null && code !== 130 && code !== 0) {
        clearTimeout(timer);
        reject(new Error(`devicegate-device exited ${code}: ${err.slice(0, 200)}`));
      }
    });
  });
}

export async function measureDeviceClient(issuer: string, clientId: string, runs = 5): Promise<DeviceClientFigures[]> {
  const bundle = await bundleDeviceCli();
  const variants: Array<[string, string[]]> = [
    ['bundled (as in the single executable)', [bundle]],
    ['from source through tsx', [path.join(repoDir, 'device-client', 'bin', 'devicegate-device.js')]],
  ];
  const figures: DeviceClientFigures[] = [];
  for (const [variant, command] of variants) {
    const times: number[] = [];
    let peakRss = 0;
    for (let run = 0; run < runs; run++) {
      const result = await oneRun(command, issuer, clientId);
      times.push(result.ms);
      peakRss = Math.max(peakRss, result.peakRss);
    }
    figures.push({ variant, startToCode: summarize(times), peakRss });
  }
  return figures;
}
