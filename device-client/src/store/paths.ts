import { homedir } from 'node:os';
import path from 'node:path';
import { DeviceClientError } from '../core/errors.ts';

export type Environment = Record<string, string | undefined>;

/**
 * Tokens are state (XDG Base Directory: "data that should persist between restarts but is not
 * important or portable enough" for $XDG_DATA_HOME); the key is configuration, kept in another
 * directory so one copied folder does not hold both.
 */
export function defaultStateDir(env: Environment = process.env): string {
  if (env.DEVICEGATE_DEVICE_STATE_DIR) return path.resolve(env.DEVICEGATE_DEVICE_STATE_DIR);
  const base = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(home(env), '.local', 'state');
  return path.join(base, 'devicegate');
}

export function defaultKeyFile(env: Environment = process.env): string {
  if (env.DEVICEGATE_DEVICE_KEY_FILE) return path.resolve(env.DEVICEGATE_DEVICE_KEY_FILE);
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(home(env), '.config');
  return path.join(base, 'devicegate', 'device.key');
}

function home(env: Environment): string {
  const dir = env.HOME || homedir();
  if (!dir) throw new DeviceClientError('store', 'no home directory: set DEVICEGATE_DEVICE_STATE_DIR and DEVICEGATE_DEVICE_KEY_FILE');
  return dir;
}

/** Profile names become file names: no separators, no dot files, nothing a shell would mangle. */
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkProfileName(profile: string): string {
  if (!PROFILE_NAME.test(profile) || profile.includes('..')) {
    throw new DeviceClientError('usage', `profile name "${profile.slice(0, 80)}" is not allowed (use letters, digits, ".", "_", "-")`);
  }
  return profile;
}
