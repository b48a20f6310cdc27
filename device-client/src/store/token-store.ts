import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { DeviceClientError, oneLine } from '../core/errors.ts';
import { fsyncDirectory, isTemporaryOf, unlinkQuietly, writeFileAtomic } from './atomic-write.ts';
import { checkPrivateFile, loadKey, type KeySource, type StoreKey } from './key.ts';
import { withFileLock } from './lock.ts';
import { checkProfileName, defaultStateDir } from './paths.ts';

export const STORE_FORMAT = 'devicegate-device-profile';
export const STORE_VERSION = 1;

/** The tokens of one sign-in, as they rest (encrypted) in the store. */
export interface StoredTokens {
  accessToken?: string;
  tokenType?: string;
  /** Epoch ms. */
  expiresAt?: number;
  refreshToken?: string;
  idToken?: string;
  scope?: string;
}

/** One profile: which appliance and client it signed in with, and the tokens. */
/** Why a profile holds no tokens any more, kept in the profile so `token` can say so. */
export interface SignedOutRecord {
  /** Epoch ms when the client dropped the tokens. */
  at: number;
  /** `revoked`: the appliance said so on push; `refused`: it refused the refresh token. */
  reason: 'revoked' | 'refused';
}

export interface ProfileRecord {
  issuer: string;
  clientId: string;
  /** Confidential clients only; public clients (most devices) have none. */
  clientSecret?: string;
  scope?: string;
  deviceName?: string;
  deviceModel?: string;
  tokens: StoredTokens;
  /** Epoch ms of the last save. */
  savedAt: number;
  /**
   * Sender-constrained tokens (DPoP, RFC 9449): the device's private key as a JWK (P-256), with
   * `alg`, `thumbprint` and `createdAt`, encrypted with the tokens it binds, so a copied refresh
   * token is useless without it. Written before the first token request of a login (session.ts).
   */
  dpop?: { privateJwk: JsonWebKey; [member: string]: unknown };
  /** Members a newer client wrote are kept on rewrite. */
  [member: string]: unknown;
}

/** The file on disk: a versioned envelope around AES-256-GCM ciphertext. */
interface Envelope {
  format: typeof STORE_FORMAT;
  version: number;
  keyId: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

export interface TokenStoreOptions extends KeySource {
  /** Default: $DEVICEGATE_DEVICE_STATE_DIR, else $XDG_STATE_HOME/devicegate, else ~/.local/state/devicegate. */
  dir?: string;
}

export interface TokenStore {
  dir: string;
  fileOf(profile: string): string;
  /** null when the profile has never been saved (or was removed). */
  load(profile: string): Promise<ProfileRecord | null>;
  /** Durable when it resolves (fsync of file and directory). Creates the key file if needed. */
  save(profile: string, record: ProfileRecord): Promise<void>;
  remove(profile: string): Promise<boolean>;
  list(): Promise<string[]>;
  /** Runs `fn` holding the profile's lock against other processes and callers of this one. */
  withLock<T>(profile: string, fn: () => Promise<T>): Promise<T>;
  /** Where the key comes from, without the key ('none' before the first save). */
  keyOrigin(): StoreKey['origin'] | 'none';
}

/**
 * Authenticated associated data: the format, its version and the profile name are bound to the
 * ciphertext, so a file copied over another profile's, or relabelled as another version, fails
 * authentication instead of being read as something it is not.
 */
function associatedData(profile: string, version: number): Buffer {
  return Buffer.from(`${STORE_FORMAT}\n${version}\n${profile}`, 'utf8');
}

export function createTokenStore(options: TokenStoreOptions = {}): TokenStore {
  const env = options.env ?? process.env;
  const dir = options.dir ? path.resolve(options.dir) : defaultStateDir(env);
  const keySource: KeySource = { ...options, env };
  const fileOf = (profile: string) => path.join(dir, `${checkProfileName(profile)}.json`);
  const storeError = (error: unknown, doing: string): never => {
    if (error instanceof DeviceClientError) throw error;
    throw new DeviceClientError('store', oneLine(`cannot ${doing}: ${(error as Error).message}`), { cause: error });
  };

  function read(profile: string): ProfileRecord | null {
    const file = fileOf(profile);
    try {
      checkPrivateFile(file, 'store file');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      storeError(error, `open ${file}`);
    }
    let text: string;
    try {
      const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        text = readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      return storeError(error, `read ${file}`);
    }
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      throw new DeviceClientError('store', `store file ${file} is corrupt or tampered with (not JSON); refusing it`);
    }
    if (!envelope || envelope.format !== STORE_FORMAT || typeof envelope.ciphertext !== 'string') {
      throw new DeviceClientError('store', `store file ${file} is not a devicegate profile; refusing it`);
    }
    if (envelope.version !== STORE_VERSION) {
      throw new DeviceClientError('store', `store file ${file} has format version ${String(envelope.version)}, this client reads ${STORE_VERSION}`);
    }
    const key = loadKey(keySource, { create: false });
    if (!key) {
      throw new DeviceClientError('store', `store file ${file} exists but its key is missing (no key file, no DEVICEGATE_DEVICE_KEY); refusing it`);
    }
    if (envelope.keyId !== key.keyId) {
      throw new DeviceClientError('store', `store file ${file} was encrypted under another key; refusing it`);
    }
    let plaintext: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(envelope.iv, 'base64url'), { authTagLength: 16 });
      decipher.setAAD(associatedData(profile, envelope.version));
      decipher.setAuthTag(Buffer.from(envelope.tag, 'base64url'));
      plaintext = Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, 'base64url')), decipher.final()]);
    } catch {
      throw new DeviceClientError('store', `store file ${file} failed authentication (tampered with, corrupt, or another profile's); refusing it`);
    }
    let record: ProfileRecord;
    try {
      record = JSON.parse(plaintext.toString('utf8')) as ProfileRecord;
    } catch {
      throw new DeviceClientError('store', `store file ${file} holds no valid record; refusing it`);
    } finally {
      plaintext.fill(0);
    }
    if (!record || typeof record.issuer !== 'string' || typeof record.clientId !== 'string' || typeof record.tokens !== 'object') {
      throw new DeviceClientError('store', `store file ${file} holds no valid record; refusing it`);
    }
    return record;
  }

  function write(profile: string, record: ProfileRecord): void {
    const file = fileOf(profile);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const key = loadKey(keySource, { create: true })!;
      const iv = randomBytes(12); // GCM's 96-bit nonce; random is safe far beyond any device's writes
      const cipher = createCipheriv('aes-256-gcm', key.key, iv, { authTagLength: 16 });
      cipher.setAAD(associatedData(profile, STORE_VERSION));
      const plaintext = Buffer.from(JSON.stringify(record), 'utf8');
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      plaintext.fill(0);
      const envelope: Envelope = {
        format: STORE_FORMAT,
        version: STORE_VERSION,
        keyId: key.keyId,
        iv: iv.toString('base64url'),
        tag: cipher.getAuthTag().toString('base64url'),
        ciphertext: ciphertext.toString('base64url'),
      };
      writeFileAtomic(file, `${JSON.stringify(envelope)}\n`, 0o600);
    } catch (error) {
      storeError(error, `write ${file}`);
    }
  }

  return {
    dir,
    fileOf,
    async load(profile) {
      return read(profile);
    },
    async save(profile, record) {
      write(profile, record);
    },
    async remove(profile) {
      const file = fileOf(profile);
      try {
        unlinkSync(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
        storeError(error, `remove ${file}`);
      }
      try {
        fsyncDirectory(dir);
      } catch (error) {
        storeError(error, `remove ${file}`);
      }
      return true;
    },
    async list() {
      try {
        return readdirSync(dir)
          .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
          .map((name) => name.slice(0, -'.json'.length))
          .sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        return storeError(error, `list ${dir}`);
      }
    },
    async withLock(profile, fn) {
      const file = fileOf(profile);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
      } catch (error) {
        storeError(error, `create ${dir}`);
      }
      return withFileLock(`${file}.lock`, async () => {
        // Holding the lock, no writer of this profile is mid-write: what temporary files remain
        // were left by writers that were killed, and can go.
        try {
          const name = path.basename(file);
          for (const entry of readdirSync(dir)) if (isTemporaryOf(name, entry)) unlinkQuietly(path.join(dir, entry));
        } catch {
          // best effort
        }
        return fn();
      });
    },
    keyOrigin() {
      try {
        return loadKey(keySource, { create: false })?.origin ?? 'none';
      } catch {
        return 'none';
      }
    },
  };
}
