import type { Clock } from '../clock.ts';
import type { ApprovalService, PendingApproval } from '../device-grants/decisions.ts';
import { OAuthError, tooManyRequests } from '../errors.ts';
import { randomId } from '../secrets.ts';
import { IdentityTakenError, UsernameTakenError, type ClientRecord, type Store, type UserRecord } from '../store/types.ts';
import type { AuditLog } from './audit.ts';
import type { UserCodeEntry } from './user-code-entry.ts';

/**
 * Approval from a product's own site (its "enter the code on our website" page): the rules of the
 * verification pages, applied to a confidential client that speaks for the person. The HTTP side
 * is endpoints/approval-api.ts; every rule is here:
 * - only a client granted `approvesDevicesOf` may call at all (403 otherwise);
 * - user codes go through the same entry as the pages (services/user-code-entry.ts), with the
 *   guess limits counted per calling client (docs/security.md API-CREDENTIAL-THEFT);
 * - a code of a client the caller may not approve is answered like an unknown one (CODE-NO-ORACLE);
 * - the granted scopes can only narrow the requested ones (`openid`, when requested, stays);
 * - the person is the caller's (namespace, subject), linked to one devicegate user, never by an
 *   e-mail address; the decision goes through device-grants/decisions.ts, so the device is pushed
 *   and audited exactly as after the pages.
 */

/** The (issuer-like) namespace of a calling client's subjects in store.userIdentities. */
export const siteNamespace = (clientId: string) => `urn:devicegate:client:${clientId}`;

export interface SiteClaims {
  name: string | null;
  email: string | null;
  emailVerified: boolean;
}

export interface SiteDevice {
  grantId: string;
  clientId: string;
  clientName: string;
  deviceName: string | null;
  deviceModel: string | null;
  scopes: string[];
  createdAt: number;
  lastUsedAt: number | null;
}

/** Scopes that the consent page never lets go of when requested (verification-ui/src/scopes.ts). */
const REQUIRED_SCOPES: ReadonlySet<string> = new Set(['openid']);

export const unknownUserCode = () => new OAuthError('unknown_user_code', 'no device is waiting for this code', 404);
export const unknownDevice = () => new OAuthError('unknown_device', 'no such device of this subject', 404);
export const notPermitted = () => new OAuthError('unauthorized_client', 'this client may not approve devices', 403);

export function createSiteApproval(deps: { store: Store; clock: Clock; approval: ApprovalService; userCodeEntry: UserCodeEntry; audit: AuditLog }) {
  const { store, clock, approval, userCodeEntry, audit } = deps;

  function permitted(caller: ClientRecord): void {
    if (caller.approvesDevicesOf.length === 0) throw notPermitted();
  }

  async function pendingFor(caller: ClientRecord, userCode: string, address: string): Promise<PendingApproval> {
    permitted(caller);
    const lookup = await userCodeEntry.lookup(
      userCode,
      { address, clientId: caller.clientId },
      { accept: (pending) => caller.approvesDevicesOf.includes(pending.client.clientId) },
    );
    if (lookup.kind === 'throttled') {
      throw tooManyRequests(`too many user codes; try again in ${lookup.retryAfterSeconds} seconds`, lookup.retryAfterSeconds);
    }
    if (lookup.kind === 'not_found') throw unknownUserCode();
    return lookup.pending;
  }

  /** The devicegate user of the caller's subject: found by the link, else made and linked once. */
  async function userOf(caller: ClientRecord, subject: string, claims: SiteClaims): Promise<UserRecord> {
    const identity = { issuer: siteNamespace(caller.clientId), subject };
    const linked = await store.users.findByIdentity(identity);
    if (linked) {
      if (linked.disabled) throw new OAuthError('access_denied', 'this subject is blocked', 403);
      await store.users.updateProfile(linked.id, claims);
      return { ...linked, ...claims };
    }
    const now = clock.now();
    const user: UserRecord = {
      id: randomId(),
      // Shown by the admin commands only; the link, not the username, is what identifies them.
      username: `${caller.clientId}:${subject}`.slice(0, 256),
      // No password: such a user signs in on the product's site only (ports/verification.ts).
      passwordHash: '',
      ...claims,
      disabled: false,
      createdAt: now,
    };
    try {
      await store.users.createWithIdentity(user, { ...identity, createdAt: now });
    } catch (error) {
      // Another call linked this subject first: theirs is the user.
      if (error instanceof IdentityTakenError) return userOf(caller, subject, claims);
      if (!(error instanceof UsernameTakenError)) throw error;
      user.username = `${user.username.slice(0, 200)}#${user.id.slice(0, 8)}`;
      await store.users.createWithIdentity(user, { ...identity, createdAt: now });
    }
    return user;
  }

  return {
    /** What the product's page shows before the person agrees: the app, the device, the scopes. */
    async lookup(caller: ClientRecord, userCode: string, address: string) {
      const { deviceGrant, client } = await pendingFor(caller, userCode, address);
      return { deviceGrant, client };
    },

    async approve(
      caller: ClientRecord,
      input: { userCode: string; subject: string; claims: SiteClaims; scopes?: string[]; authTime?: number; address: string },
    ) {
      const { deviceGrant, client } = await pendingFor(caller, input.userCode, input.address);
      const requested = deviceGrant.scopes;
      const asked = input.scopes ?? requested;
      const beyond = asked.filter((scope) => !requested.includes(scope));
      if (beyond.length > 0) {
        throw new OAuthError('invalid_scope', `scopes can only narrow the device's request; not requested: ${beyond.join(' ').slice(0, 200)}`);
      }
      const grantedScopes = requested.filter((scope) => REQUIRED_SCOPES.has(scope) || asked.includes(scope));
      const user = await userOf(caller, input.subject, input.claims);
      const won = await approval.approve({ deviceGrantId: deviceGrant.id, userId: user.id, grantedScopes, authTime: input.authTime ?? clock.now() });
      // Decided by someone else a moment ago: no longer waiting, like any unknown code.
      if (!won) throw unknownUserCode();
      return { deviceGrant, client, user, grantedScopes };
    },

    async deny(caller: ClientRecord, input: { userCode: string; address: string }) {
      const { deviceGrant, client } = await pendingFor(caller, input.userCode, input.address);
      if (!(await approval.deny({ deviceGrantId: deviceGrant.id, userId: null }))) throw unknownUserCode();
      return { deviceGrant, client };
    },

    /** The subject's live grants of the clients the caller may approve; none for an unknown subject. */
    async listDevices(caller: ClientRecord, subject: string): Promise<SiteDevice[]> {
      permitted(caller);
      const linked = await store.users.findByIdentity({ issuer: siteNamespace(caller.clientId), subject });
      if (!linked) return [];
      const now = clock.now();
      const grants = (await store.grants.listByUser(linked.id))
        .filter((grant) => grant.revokedAt === null && grant.expiresAt > now && caller.approvesDevicesOf.includes(grant.clientId))
        .sort((a, b) => b.createdAt - a.createdAt);
      const names = new Map<string, string>();
      for (const clientId of new Set(grants.map((grant) => grant.clientId))) names.set(clientId, (await store.clients.get(clientId))?.name ?? clientId);
      return grants.map((grant) => ({
        grantId: grant.id,
        clientId: grant.clientId,
        clientName: names.get(grant.clientId) ?? grant.clientId,
        deviceName: grant.deviceName,
        deviceModel: grant.deviceModel,
        scopes: grant.scopes,
        createdAt: grant.createdAt,
        lastUsedAt: grant.lastUsedAt,
      }));
    },

    /** Revokes the whole token family of one of the subject's devices; someone else's is unknown. */
    async signOutDevice(caller: ClientRecord, subject: string, grantId: string): Promise<{ userId: string }> {
      permitted(caller);
      const linked = await store.users.findByIdentity({ issuer: siteNamespace(caller.clientId), subject });
      const grant = linked ? await store.grants.get(grantId) : null;
      if (!linked || !grant || grant.userId !== linked.id || !caller.approvesDevicesOf.includes(grant.clientId) || grant.revokedAt !== null) {
        throw unknownDevice();
      }
      if (await store.grants.revoke(grant.id, clock.now(), 'signed out from the product site')) {
        await audit.record('grant_revoked', { grantId: grant.id, clientId: grant.clientId, userId: linked.id, by: caller.clientId });
      }
      return { userId: linked.id };
    },
  };
}

export type SiteApproval = ReturnType<typeof createSiteApproval>;
