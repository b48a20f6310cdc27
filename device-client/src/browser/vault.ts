import type { TokenSet } from '../core/tokens.ts';
import type { KeyValueDatabase } from './idb.ts';

/** What is kept per profile, sealed. */
export interface StoredSignIn {
  issuer: string;
  clientId: string;
  tokens: TokenSet;
  /** The `cnf.jkt` the tokens are bound to (RFC 9449 §6), when they are. */
  dpopThumbprint?: string;
}

interface Sealed {
  format: typeof FORMAT;
  iv: Uint8Array<ArrayBuffer>;
  ciphertext: ArrayBuffer;
}

const FORMAT = 'devicegate-browser-tokens/1';
const AES_GCM_256 = { name: 'AES-GCM', length: 256 } as const;

/**
 * Tokens at rest in IndexedDB, sealed with AES-256-GCM under a non-extractable key that lives in
 * the same database: what a look at the database (devtools, a disk image, another profile's
 * backup) shows is ciphertext, and the key cannot be exported to open it elsewhere. It does not
 * hide the tokens from script running in the page itself, which can ask the key to decrypt; no
 * storage can (docs/security.md BROWSER-AT-REST). The profile is the associated data, so a
 * record moved to another profile does not open.
 */
export interface TokenVault {
  load(): Promise<StoredSignIn | null>;
  save(record: StoredSignIn): Promise<void>;
  clear(): Promise<void>;
}

export async function openTokenVault(db: KeyValueDatabase, profile: string): Promise<TokenVault> {
  let key = await db.get<CryptoKey>('keys', 'vault');
  if (!key) {
    key = await crypto.subtle.generateKey(AES_GCM_256, false, ['encrypt', 'decrypt']);
    await db.put('keys', 'vault', key);
  }
  const sealingKey = key;
  const additionalData = new TextEncoder().encode(`${FORMAT}\n${profile}`);
  return {
    async load() {
      const sealed = await db.get<Sealed>('tokens', profile);
      if (!sealed || sealed.format !== FORMAT) return null;
      try {
        const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.iv, additionalData }, sealingKey, sealed.ciphertext);
        return JSON.parse(new TextDecoder().decode(plain)) as StoredSignIn;
      } catch {
        // Tampered with, or sealed under a key this database no longer has: signed out.
        return null;
      }
    },
    async save(record) {
      // RFC 5116 §3.2 / NIST SP 800-38D §8.2.2: a fresh random 96-bit nonce per seal.
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ciphertext = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData }, sealingKey, new TextEncoder().encode(JSON.stringify(record)));
      await db.put('tokens', profile, { format: FORMAT, iv, ciphertext } satisfies Sealed);
    },
    clear: () => db.delete('tokens', profile),
  };
}
