import { closeSync, constants, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { DeviceClientError } from '../core/errors.ts';
import { sleep } from '../core/runtime.ts';
import { unlinkQuietly } from './atomic-write.ts';

/**
 * An advisory lock between processes of one device (say a `token` call from cron while the app
 * refreshes): refreshing twice with one refresh token would, with rotation and reuse detection,
 * revoke the whole sign-in. A lock file created with O_EXCL holds the owner's pid and boot id; a
 * lock whose owner is dead (SIGKILL) or from an earlier boot (power cut) is taken over.
 */
export async function withFileLock<T>(lockFile: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  // Within one process the lock file cannot tell two callers apart (same pid), so callers of this
  // process queue here first. This map is process-wide on purpose: so is the lock it guards.
  const previous = inProcess.get(lockFile) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => mine);
  inProcess.set(lockFile, chained);
  await previous;
  try {
    return await withLockFile(lockFile, fn, timeoutMs);
  } finally {
    release();
    if (inProcess.get(lockFile) === chained) inProcess.delete(lockFile);
  }
}

const inProcess = new Map<string, Promise<void>>();

async function withLockFile<T>(lockFile: string, fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(lockFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      writeSync(fd, `${process.pid} ${bootId()}`);
    } catch (error) {
      if (fd !== undefined) {
        closeSync(fd);
        unlinkQuietly(lockFile);
        fd = undefined;
      }
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DeviceClientError('store', `cannot create lock ${lockFile}: ${(error as Error).message}`, { cause: error });
      }
      if (ownerIsGone(lockFile)) {
        unlinkQuietly(lockFile);
        continue;
      }
      if (Date.now() > deadline) {
        throw new DeviceClientError('store', `profile is locked by another process (${lockFile})`);
      }
      await sleep(25 + Math.random() * 50);
    }
  }
  try {
    return await fn();
  } finally {
    closeSync(fd);
    unlinkQuietly(lockFile);
  }
}

let cachedBootId: string | undefined;
function bootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = '-';
    }
  }
  return cachedBootId;
}

function ownerIsGone(lockFile: string): boolean {
  let text: string;
  let ageMs: number;
  try {
    text = readFileSync(lockFile, 'utf8');
    ageMs = Date.now() - statSync(lockFile).mtimeMs;
  } catch {
    return false; // vanished meanwhile: just try again
  }
  const [pidText, boot] = text.split(' ');
  const pid = Number(pidText);
  // Empty: its writer died between creating and writing it (or is between the two right now, so
  // only once it is a second old).
  if (!Number.isInteger(pid) || pid <= 0) return ageMs > 1000;
  if (boot !== undefined && boot !== bootId()) return true;
  if (pid === process.pid) return true; // our own leftover; this process queues its callers above
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
