import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DevicegateError } from '../errors.ts';

/** The master key or the signing keys cannot be used as they are; the message says what to fix. */
export class KeyError extends DevicegateError {
  constructor(
    code: 'master_key_invalid' | 'master_key_exposed' | 'sealed_value_malformed' | 'unseal_failed' | 'no_signing_key',
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.name = 'KeyError';
  }
}

/**
 * Seals private signing keys (AES-256-GCM) under a master key, so a copy of the database alone
 * reveals no key. The master key comes from DEVICEGATE_MASTER_KEY (shared by all instances in a
 * scaled-out deployment) or, on a single box, from a 0600 file beside the database.
 */
export interface Sealer {
  seal(plaintext: string): string;
  unseal(sealed: string): string;
}

export function createSealer(masterKey: Buffer): Sealer {
  if (masterKey.length !== 32) throw new KeyError('master_key_invalid', 'master key must be 32 bytes');
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    unseal(sealed) {
      const [version, iv, body, tag] = sealed.split('.');
      if (version !== 'v1' || !iv || body === undefined || !tag) throw new KeyError('sealed_value_malformed', 'sealed value is malformed');
      const decipher = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      try {
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      } catch (error) {
        throw new KeyError('unseal_failed', 'cannot unseal signing key: wrong master key or tampered data', { cause: error });
      }
    },
  };
}

/** Accepts 32 bytes as hex, base64 or base64url. */
export function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  const candidates = [
    /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : null,
    Buffer.from(trimmed, 'base64url'),
    Buffer.from(trimmed, 'base64'),
  ];
  const key = candidates.find((candidate) => candidate?.length === 32);
  if (!key) throw new KeyError('master_key_invalid', 'master key must be 32 bytes, written as hex, base64 or base64url');
  return key;
}

/** Reads the master key file in the data directory, creating it (0600) on first start. */
export function loadOrCreateMasterKeyFile(dataDir: string): Buffer {
  const file = path.join(dataDir, 'master.key');
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o077;
    if (mode !== 0) throw new KeyError('master_key_exposed', `${file} is readable by group or others; chmod 600 it`);
    return parseMasterKey(readFileSync(file, 'utf8'));
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}
