// `devicegate serve` as a child process, configured the way an operator does it (DEVICEGATE_*
// environment, flags), on loopback ports, ready once its /readyz answers 200. A child of its own
// can be SIGKILLed by a crash test, and does not share the test's event loop with the load a test
// puts on it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, waitUntilHttpReady, type Daemon } from './daemon.ts';
import { freePort } from './ports.ts';

const repoRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const devicegateBin = path.join(repoRoot, 'appliance/bin/devicegate.js');

export interface ServeDaemonOptions {
  /** Shown in errors: "devicegate crash". */
  name: string;
  /** HTTP port on 127.0.0.1: the caller's, so a restart on the same data can keep it. */
  port: number;
  dataDir: string;
  /** DEVICEGATE_* settings; they win over the ones set here. */
  env?: Record<string, string>;
  /** Further `serve` flags (`--config`, `--no-mqtt`, `--database-url`); flags win over the environment. */
  args?: string[];
  /** Removed at process exit and when the start fails (a data dir the child owns). */
  dir?: string;
  /**
   * Bound on the start, 90 s as test/cli/run-cli.ts gives the same command: tsx compiles the
   * sources at every cold start, which took over 30 s on a 2-core machine with both cores hogged
   * and other test files starting their own children.
   */
  timeoutMs?: number;
}

/**
 * Starts `devicegate serve` and waits until /readyz answers 200; a failed start throws with the
 * child's output and leaves no process. The environment is the child's own (no DEVICEGATE_* of
 * the developer's shell), and the embedded MQTT broker gets a free port unless env says
 * otherwise: children of test files run at once must not meet on 1883. The child is SIGKILLed at
 * the test process's exit if still running (test/support/daemon.ts).
 */
export async function startServeDaemon(options: ServeDaemonOptions): Promise<Daemon> {
  const { name, port, dataDir } = options;
  const daemon = startDaemon(process.execPath, [devicegateBin, 'serve', ...(options.args ?? [])], {
    name,
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HOME: dataDir,
      DEVICEGATE_HOST: '127.0.0.1',
      DEVICEGATE_PORT: String(port),
      DEVICEGATE_DATA_DIR: dataDir,
      DEVICEGATE_MQTT_PORT: String(await freePort()),
      DEVICEGATE_LOG_LEVEL: process.env.DEVICEGATE_TEST_LOG_LEVEL ?? 'warn',
      ...options.env,
    },
    exitSignal: 'SIGKILL',
    dir: options.dir,
  });
  await waitUntilHttpReady(daemon, `http://127.0.0.1:${port}/readyz`, { timeoutMs: options.timeoutMs ?? 90_000, dir: options.dir });
  return daemon;
}
