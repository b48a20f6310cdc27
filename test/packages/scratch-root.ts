// A scratch root for installing packages with the real dpkg without touching the machine: the
// machine's own / as the lower layer of an overlay whose upper layer is a tmpfs, in a private mount
// namespace held open by one `sleep` process (util-linux unshare). Commands run there with
// `nsenter --mount` + `chroot`, so dpkg, its maintainer scripts (useradd, chown) and the installed
// program see a whole Debian system, while every write (the dpkg database, /etc/passwd,
// /var/lib/devicegate) lands in the tmpfs and is gone when the holder ends. The network is the
// machine's, so a server started in it listens on the machine's loopback.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startDaemon, type Daemon } from '../support/daemon.ts';

export interface ScratchRoot {
  /** The overlay's path inside the namespace (where chroot goes). */
  readonly merged: string;
  /** A path inside the scratch root, as this process can read it (/proc/<holder>/root/…). */
  path(inside: string): string;
  /** Runs a command in the scratch root as root; throws with its output when it fails. */
  run(command: string[], options?: { input?: string; user?: string; env?: Record<string, string> }): string;
  /** Like run, but returns status and output instead of throwing. */
  tryRun(command: string[], options?: { input?: string; user?: string; env?: Record<string, string> }): { status: number | null; output: string };
  /** Copies a file of this machine into the scratch root. */
  copyIn(hostPath: string, inside: string): void;
  /** Starts a long-running command in the scratch root (a server). */
  start(name: string, command: string[], options: { user?: string; env?: Record<string, string> }): Daemon;
  close(): Promise<void>;
}

/** Why a scratch root cannot be made here, or undefined when it can. */
export function scratchRootUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'a scratch root needs root (mount namespaces, overlayfs)';
  for (const tool of ['unshare', 'nsenter', 'chroot', 'dpkg', 'dpkg-deb']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  }
  return undefined;
}

export async function createScratchRoot(): Promise<ScratchRoot> {
  const base = execFileSync('mktemp', ['-d', '/tmp/devicegate-scratch-root-XXXXXX'], { encoding: 'utf8' }).trim();
  const merged = `${base}/merged`;
  // The tmpfs is mounted over the (empty) base directory inside the namespace only; outside it the
  // directory stays empty and is removed at close. /proc and /dev are the machine's (Node needs
  // them); /run is left empty, so maintainer scripts see no running systemd and start nothing.
  const setup = [
    'set -e',
    `mount -t tmpfs -o mode=0755 devicegate-scratch ${base}`,
    `mkdir ${base}/upper ${base}/work ${merged}`,
    `mount -t overlay devicegate-scratch -o lowerdir=/,upperdir=${base}/upper,workdir=${base}/work ${merged}`,
    `mount --rbind /proc ${merged}/proc`,
    `mount --rbind /dev ${merged}/dev`,
    `mount -t tmpfs -o mode=0755 devicegate-scratch-run ${merged}/run`,
    `mount -t tmpfs -o mode=1777 devicegate-scratch-tmp ${merged}/tmp`,
    'echo ready',
    'exec sleep 2147483647',
  ].join('\n');
  const holder: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', setup], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  holder.stdout!.on('data', (chunk) => (output += chunk));
  holder.stderr!.on('data', (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`scratch root not ready after 20 s: ${output}`)), 20_000);
    holder.stdout!.on('data', () => {
      if (output.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    holder.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`scratch root setup failed (exit ${code}): ${output.trim()}`));
    });
  });
  const pid = holder.pid!;
  // A test that crashes must not leave the holder (and its tmpfs) behind.
  const onExit = () => holder.kill('SIGKILL');
  process.once('exit', onExit);

  const chrootArgs = (command: string[], user?: string, env: Record<string, string> = {}) => [
    '--target', String(pid), '--mount', '--',
    'chroot', ...(user ? [`--userspec=${user}:${user}`] : []), merged,
    'env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8',
    ...Object.entries(env).map(([name, value]) => `${name}=${value}`),
    ...command,
  ];

  const tryRun: ScratchRoot['tryRun'] = (command, options = {}) => {
    const result = spawnSync('nsenter', chrootArgs(command, options.user, options.env), { input: options.input ?? '', encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
    return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? result.error.message : ''}` };
  };

  return {
    merged,
    path: (inside) => `/proc/${pid}/root${merged}${inside}`,
    run(command, options) {
      const result = tryRun(command, options);
      if (result.status !== 0) throw new Error(`${command.join(' ')} in the scratch root exited ${result.status}: ${result.output.trim().slice(-4000)}`);
      return result.output;
    },
    tryRun,
    copyIn(hostPath, inside) {
      execFileSync('nsenter', ['--target', String(pid), '--mount', '--', 'cp', hostPath, `${merged}${inside}`]);
    },
    start(name, command, options) {
      return startDaemon('nsenter', chrootArgs(command, options.user, options.env), { name, exitSignal: 'SIGKILL' });
    },
    async close() {
      process.removeListener('exit', onExit);
      holder.kill('SIGKILL');
      await new Promise((resolve) => (holder.exitCode !== null || holder.signalCode !== null ? resolve(undefined) : holder.once('exit', resolve)));
      // The namespace (and its mounts) went with its last process; the directory is empty again.
      if (existsSync(base)) spawnSync('rmdir', [base]);
    },
  };
}
