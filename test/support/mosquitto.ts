// A real Eclipse Mosquitto broker per test (file), on a free loopback port in a fresh temp dir.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { acceptsTcp, removeDir, startDaemon, waitUntilReady } from './daemon.ts';
import { freePort } from './ports.ts';

const mosquittoBinary = process.env.DEVICEGATE_MOSQUITTO ?? '/usr/sbin/mosquitto';

export function mosquittoAvailable(): boolean {
  return existsSync(mosquittoBinary);
}

export interface MosquittoOptions {
  /**
   * The broker's configuration. `{{PORT}}` becomes the listener port and `{{DIR}}` the temp dir
   * (for password, ACL or certificate files given in extraFiles). Defaults to one anonymous
   * listener on 127.0.0.1:{{PORT}}. `user`, `log_dest` and `persistence` are added when absent.
   */
  configText?: string;
  /** Read a config from this file instead; same placeholders. */
  configFile?: string;
  /** More files to write into the temp dir first: relative path → content (placeholders too). */
  extraFiles?: Record<string, string>;
  /** How long to wait for the listener to accept connections. */
  startTimeoutMs?: number;
}

export interface Mosquitto {
  port: number;
  /** mqtt://127.0.0.1:PORT */
  url: string;
  dir: string;
  /** The broker's log so far (its stderr): connections, subscriptions, refusals. */
  logs(): string;
  /** Ends the broker and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const DEFAULT_LISTENER = 'listener {{PORT}} 127.0.0.1\nallow_anonymous true\n';

/** Another test may grab the port between freePort() and mosquitto's bind: try a few ports. */
const PORT_ATTEMPTS = 3;

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const template =
    options.configText ??
    (options.configFile !== undefined ? await readFile(options.configFile, 'utf8') : DEFAULT_LISTENER);

  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(template, options);
    } catch (error) {
      const portTaken = error instanceof Error && /Address already in use/i.test(error.message);
      if (!portTaken || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

async function startOnce(template: string, options: MosquittoOptions): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'devicegate-mosquitto-'));
  try {
    const port = await freePort();
    const fill = (text: string): string => text.replaceAll('{{PORT}}', String(port)).replaceAll('{{DIR}}', dir);

    for (const [name, content] of Object.entries(options.extraFiles ?? {})) {
      const path = join(dir, name);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, fill(content));
    }
    const configPath = join(dir, 'mosquitto.conf');
    await writeFile(configPath, withDefaults(fill(template)));

    const daemon = startDaemon(mosquittoBinary, ['-c', configPath], { name: 'mosquitto', cwd: dir, dir });
    try {
      await waitUntilReady(daemon, () => acceptsTcp(port), {
        timeoutMs: options.startTimeoutMs ?? 10_000,
        what: `accepting connections on 127.0.0.1:${port}`,
      });
    } catch (error) {
      await daemon.stop('SIGKILL', 2000);
      throw error;
    }

    let stopped: Promise<void> | undefined;
    return {
      port,
      url: `mqtt://127.0.0.1:${port}`,
      dir,
      logs: () => daemon.output(),
      stop() {
        stopped ??= daemon.stop('SIGTERM', 5000).then(() => removeDir(dir));
        return stopped;
      },
    };
  } catch (error) {
    removeDir(dir);
    throw error;
  }
}

function hasOption(config: string, option: string): boolean {
  return new RegExp(`^\\s*${option}\\s`, 'm').test(config);
}

function withDefaults(config: string): string {
  const header: string[] = [];
  // Run as root, mosquitto drops to the `mosquitto` user, which cannot read our root-owned temp
  // dir (password/ACL files, persistence). `user root` keeps it as the caller; a warning, no harm.
  if (process.getuid?.() === 0 && !hasOption(config, 'user')) header.push('user root');
  // stderr is captured for logs() and for start errors.
  if (!hasOption(config, 'log_dest')) header.push('log_dest stderr');
  // Each broker starts empty unless a test asks for persistence (it then sets persistence_location
  // to {{DIR}}/ itself).
  if (!hasOption(config, 'persistence')) header.push('persistence false');
  return `${header.join('\n')}\n${config.endsWith('\n') ? config : `${config}\n`}`;
}
