import { hash, verify } from '@node-rs/argon2';

/**
 * Password and client-secret hashing with argon2id (@node-rs/argon2, prebuilt, maintained).
 * Parameters follow the OWASP minimum for argon2id (19 MiB, 2 iterations, 1 lane), which keeps a
 * sign-in under ~30 ms on a small box while making offline guessing expensive.
 */
const options = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, options);
}

/** Constant-time inside argon2; returns false for a malformed stored hash instead of throwing. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  try {
    return await verify(storedHash, password);
  } catch {
    return false;
  }
}

/** A dummy hash to verify against when the account does not exist, so timing does not reveal it. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword('devicegate-dummy-password');
  return dummyHash;
}
