import { createHmac } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Clock } from '../clock.ts';
import type { ReplayCache } from '../dpop/replay-cache.ts';
import { constantTimeEqual, hashSecret, randomSecret } from '../secrets.ts';
import type { Store, UserRecord } from '../store/types.ts';
import type { AuditLog } from './audit.ts';

/**
 * Passkeys (WebAuthn Level 3) of local accounts, on @simplewebauthn/server. The relying party is
 * the issuer: its host is the RP ID and its origin the only accepted origin, so a passkey made
 * for devicegate answers no other site and no other site's assertion is accepted here
 * (docs/security.md PASSKEY-PHISHING).
 *
 * Challenges are kept nowhere: each is a random nonce, its time and a MAC over both under a key
 * the pages derive from the browser's cookie secret (`binding`). So a challenge is good only in the
 * browser it was shown to, for CHALLENGE_LIFETIME_MS, and once: a used one is remembered in the
 * replay cache (shared by every instance on PostgreSQL) until it would have expired anyway
 * (docs/security.md PASSKEY-REPLAY).
 */
const CHALLENGE_LIFETIME_MS = 5 * 60_000;

export type PasskeyPurpose = 'register' | 'sign-in';

export interface PasskeyServiceDeps {
  store: Store;
  clock: Clock;
  replayCache: ReplayCache;
  audit: AuditLog;
  issuer: string;
  /** Shown by the authenticator when a passkey is made. */
  relyingPartyName: string;
}

export function createPasskeyService(deps: PasskeyServiceDeps) {
  const { store, clock, replayCache, audit } = deps;
  const origin = new URL(deps.issuer).origin;
  const rpID = new URL(deps.issuer).hostname;

  const mac = (binding: string, purpose: PasskeyPurpose, nonce: string, issuedAt: number) =>
    createHmac('sha256', binding).update(`devicegate:webauthn-challenge:${purpose}:${nonce}:${issuedAt}`).digest('base64url');

  function newChallenge(binding: string, purpose: PasskeyPurpose): string {
    const nonce = randomSecret(16);
    const issuedAt = clock.now();
    return `${nonce}.${issuedAt}.${mac(binding, purpose, nonce, issuedAt)}`;
  }

  /** The check simplewebauthn calls with the challenge the browser signed (base64url of ours). */
  function challengeCheck(binding: string, purpose: PasskeyPurpose) {
    return async (signed: string): Promise<boolean> => {
      const challenge = Buffer.from(signed, 'base64url').toString('utf8');
      const [nonce, issuedAtText, tag, ...rest] = challenge.split('.');
      if (!nonce || !issuedAtText || !tag || rest.length > 0 || !/^\d{1,15}$/.test(issuedAtText)) return false;
      const issuedAt = Number(issuedAtText);
      const now = clock.now();
      if (issuedAt > now || now - issuedAt > CHALLENGE_LIFETIME_MS) return false;
      if (!constantTimeEqual(tag, mac(binding, purpose, nonce, issuedAt))) return false;
      return replayCache.remember(`webauthn:${hashSecret(challenge)}`, issuedAt + CHALLENGE_LIFETIME_MS);
    };
  }

  /** A local account that may have passkeys: not disabled, and with a password of its own. */
  const local = (user: UserRecord | null): user is UserRecord => user !== null && !user.disabled && user.passwordHash !== '';

  return {
    async registrationOptions(user: UserRecord, binding: string) {
      const existing = await store.passkeys.listByUser(user.id);
      return generateRegistrationOptions({
        rpName: deps.relyingPartyName,
        rpID,
        userName: user.username,
        userDisplayName: user.name ?? user.username,
        userID: new TextEncoder().encode(user.id),
        challenge: newChallenge(binding, 'register'),
        timeout: CHALLENGE_LIFETIME_MS,
        attestationType: 'none',
        // One passkey per authenticator: registering the same one twice is refused by it.
        excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
        // Discoverable, so signing in needs no username; user verification, so the passkey is a
        // factor on its own (something held plus a PIN or biometric), not only a presence tap.
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
    },

    async register(user: UserRecord, binding: string, response: unknown): Promise<boolean> {
      if (!local(user)) return false;
      let verification;
      try {
        verification = await verifyRegistrationResponse({
          response: response as RegistrationResponseJSON,
          expectedChallenge: challengeCheck(binding, 'register'),
          expectedOrigin: origin,
          expectedRPID: rpID,
          requireUserVerification: true,
        });
      } catch {
        return false; // malformed, wrong origin, wrong or used challenge: one answer
      }
      if (!verification.verified) return false;
      const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
      const created = await store.passkeys.create({
        id: credential.id,
        userId: user.id,
        publicKey: Buffer.from(credential.publicKey).toString('base64url'),
        counter: credential.counter,
        transports: credential.transports ?? [],
        deviceType: credentialDeviceType,
        backedUp: credentialBackedUp,
        createdAt: clock.now(),
      });
      if (created) await audit.record('passkey_registered', { userId: user.id, passkeyId: credential.id.slice(0, 64) });
      return created;
    },

    async authenticationOptions(binding: string) {
      // No allowCredentials: the authenticator offers the passkeys it holds for this RP, so the
      // page need not ask (or reveal) which accounts exist.
      return generateAuthenticationOptions({ rpID, challenge: newChallenge(binding, 'sign-in'), timeout: CHALLENGE_LIFETIME_MS, userVerification: 'required' });
    },

    /** The user whose passkey signed this challenge, or null (one answer for every failure). */
    async authenticate(binding: string, response: unknown): Promise<UserRecord | null> {
      const id = (response as { id?: unknown } | null)?.id;
      if (typeof id !== 'string' || id.length > 1024) return null;
      const passkey = await store.passkeys.get(id);
      if (!passkey) return null;
      const user = await store.users.get(passkey.userId);
      if (!local(user)) return null;
      // A discoverable credential names its user; it must be the one the passkey was made for.
      const userHandle = (response as { response?: { userHandle?: unknown } }).response?.userHandle;
      if (userHandle !== undefined && userHandle !== Buffer.from(user.id, 'utf8').toString('base64url')) return null;
      let verification;
      try {
        verification = await verifyAuthenticationResponse({
          response: response as AuthenticationResponseJSON,
          expectedChallenge: challengeCheck(binding, 'sign-in'),
          expectedOrigin: origin,
          expectedRPID: rpID,
          credential: { id: passkey.id, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: passkey.counter, transports: passkey.transports as never },
          requireUserVerification: true,
        });
      } catch {
        return null;
      }
      if (!verification.verified) return null;
      // WebAuthn §6.1.1: a counter that did not grow may be a cloned authenticator.
      if (!(await store.passkeys.recordUse(passkey.id, verification.authenticationInfo.newCounter, clock.now()))) return null;
      return user;
    },

    list: (user: UserRecord) => store.passkeys.listByUser(user.id),

    async remove(user: UserRecord, id: string): Promise<boolean> {
      const removed = await store.passkeys.remove(id, user.id);
      if (removed) await audit.record('passkey_removed', { userId: user.id, passkeyId: id.slice(0, 64) });
      return removed;
    },
  };
}

export type PasskeyService = ReturnType<typeof createPasskeyService>;
