import type { Clock } from '../clock.ts';
import { randomSecret, timeOrderedId } from '../secrets.ts';
import { UserCodeTakenError, type ClientRecord, type Store } from '../store/types.ts';
import type { ExpiryScheduler } from './expiry.ts';
import { deviceCodeHashOf, pushKeyOf } from './keys.ts';
import { userCodeAllowed } from '../services/phishing-controls.ts';
import { generateUserCode } from './user-code.ts';

/** What a device authorization hands out: the plaintext device code exists only here and in the answer. */
export interface AuthorizedDevice {
  deviceGrantId: string;
  deviceCode: string;
  /** Normalized (8 characters, no dash). */
  userCode: string;
  pushKey: string;
  expiresAt: number;
  /** Seconds (RFC 8628 §3.2 expires_in). */
  lifetime: number;
  /** Seconds (RFC 8628 §3.2 interval). */
  interval: number;
}

/** 20^8 user codes against at most thousands live: a collision is rare, several in a row rarer still. */
const USER_CODE_ATTEMPTS = 9;

/**
 * The first transition of a device grant (RFC 8628 §3.1-3.2): a new pending grant with a device
 * code (256 bits, stored only as its hash), a user code unique among live grants, and its push
 * key; its expiry is scheduled at once, so the device learns of it on time.
 */
export function createDeviceAuthorizer(deps: { store: Store; clock: Clock; expiry: ExpiryScheduler }) {
  const { store, clock, expiry } = deps;
  return async function authorize(request: {
    client: ClientRecord;
    scopes: string[];
    deviceName: string | null;
    deviceModel: string | null;
    requestedFrom: string | null;
    /** Registered resource servers asked for (RFC 8707), already checked. */
    resources: string[];
    traceParent?: string;
  }): Promise<AuthorizedDevice> {
    const { client } = request;
    const deviceCode = randomSecret();
    const deviceCodeHash = deviceCodeHashOf(deviceCode);
    const pushKey = pushKeyOf(deviceCodeHash);
    const now = clock.now();
    const expiresAt = now + client.deviceCodeLifetime * 1000;
    const deviceGrantId = timeOrderedId(now);
    for (let attempt = 1; ; attempt++) {
      // docs/security.md PHISH-CODE-PREFIX: codes starting with a denied prefix are drawn again.
      let userCode = generateUserCode();
      while (!userCodeAllowed(userCode, client.phishing.userCodeDenyPrefixes)) userCode = generateUserCode();
      try {
        await store.deviceGrants.create({
          id: deviceGrantId,
          deviceCodeHash,
          userCode,
          clientId: client.clientId,
          scopes: request.scopes,
          deviceName: request.deviceName,
          deviceModel: request.deviceModel,
          requestedFrom: request.requestedFrom,
          pushKey,
          createdAt: now,
          expiresAt,
          interval: client.pollInterval,
          resources: request.resources,
          traceParent: request.traceParent ?? null,
        });
        expiry.wakeAt(expiresAt);
        return { deviceGrantId, deviceCode, userCode, pushKey, expiresAt, lifetime: client.deviceCodeLifetime, interval: client.pollInterval };
      } catch (error) {
        if (!(error instanceof UserCodeTakenError) || attempt >= USER_CODE_ATTEMPTS) throw error;
      }
    }
  };
}

export type DeviceAuthorizer = ReturnType<typeof createDeviceAuthorizer>;
