import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { DeviceClientError } from '../core/errors.ts';
import { fsyncDirectory, unlinkQuietly } from './atomic-write.ts';
import { defaultKeyFile, type Environment } from './paths.ts';

const KEY_BYTES = 32;

/** Where the store key comes from: firmware (option or DEVICEGATE_DEVICE_KEY) or a key file. */
export interface KeySource {
  /** 32 bytes, or their base64 / base64url / hex text. */
  key?: Uint8Array | string;
  keyFile?: string;
  env?: Environment;
}

export interface StoreKey {
  key: Buffer;
  /** Names the key without revealing it, so "another key" and "tampered" are told apart. */
  keyId: string;
  origin: 'option' | 'env' | 'file';
  file?: string;
}

function parseKey(value: Uint8Array | string, where: string): Buffer {
  let bytes: Buffer;
  if (typeof value !== 'string') bytes = Buffer.from(value);
  else {
    const text = value.trim();
    if (/^[0-9a-f]{64}$/i.test(text)) bytes = Buffer.from(text, 'hex');
    else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    else bytes = Buffer.alloc(0);
  }
  if (bytes.length !== KEY_BYTES) {
    throw new DeviceClientError('store', `${where} must be ${KEY_BYTES} bytes (base64 or hex), got ${bytes.length}`);
  }
  return bytes;
}

function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update('devicegate device store key id').digest('base64url').slice(0, 12);
}

/** Refuses a file that others could read or write: the whole point of it is that they cannot. */
export function checkPrivateFile(file: string, what: string): void {
  const stat = lstatSync(file);
  if (stat.isSymbolicLink()) throw new DeviceClientError('store', `${what} ${file} is a symbolic link; refusing it`);
  if (!stat.isFile()) throw new DeviceClientError('store', `${what} ${file} is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new DeviceClientError('store', `${what} ${file} is accessible to group or others (mode ${mode}); refusing it (chmod 600 it if it was not exposed)`);
  }
}

/**
 * Resolves the key: option, then DEVICEGATE_DEVICE_KEY, then the key file. With `create`, a
 * missing key file is made (32 random bytes, mode 0600, atomically: written under a temporary name
 * and hard-linked into place, so a second process never sees a half-written key). Without it, a
 * missing key file gives null.
 */
export function loadKey(source: KeySource, options: { create: boolean }): StoreKey | null {
  const env = source.env ?? process.env;
  if (source.key !== undefined) return withId(parseKey(source.key, 'the store key'), 'option');
  if (env.DEVICEGATE_DEVICE_KEY) return withId(parseKey(env.DEVICEGATE_DEVICE_KEY, 'DEVICEGATE_DEVICE_KEY'), 'env');
  const file = source.keyFile ? path.resolve(source.keyFile) : defaultKeyFile(env);
  try {
    return withId(readKeyFile(file), 'file', file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (!options.create) return null;
  createKeyFile(file);
  return withId(readKeyFile(file), 'file', file);
}

function withId(key: Buffer, origin: StoreKey['origin'], file?: string): StoreKey {
  return { key, keyId: keyIdOf(key), origin, ...(file ? { file } : {}) };
}

function readKeyFile(file: string): Buffer {
  checkPrivateFile(file, 'key file');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new DeviceClientError('store', `cannot read key file ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseKey(text, `key file ${file}`);
}

function createKeyFile(file: string): void {
  const dir = path.dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temporary = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${randomBytes(KEY_BYTES).toString('base64')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // another process won: use its key
    } finally {
      unlinkQuietly(temporary);
    }
    fsyncDirectory(dir);
  } catch (error) {
    if (error instanceof DeviceClientError) throw error;
    throw new DeviceClientError('store', `cannot create key file ${file}: ${(error as Error).message}`, { cause: error });
  }
}
