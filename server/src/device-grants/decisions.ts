import type { EventBus } from '../bus/types.ts';
import type { Clock } from '../clock.ts';
import type { AuditLog } from '../services/audit.ts';
import { noMetrics, type Metrics } from '../observability/metrics.ts';
import { inGrantTrace } from '../observability/tracing.ts';
import type { ClientRecord, DeviceGrantRecord, Store } from '../store/types.ts';
import { deviceGrantState } from './state.ts';
import { normalizeUserCode } from './user-code.ts';

export interface PendingApproval {
  deviceGrant: DeviceGrantRecord;
  client: ClientRecord;
}

/**
 * A person's decision on a device grant: find one that still waits for it (by the user code they
 * typed, or by its id once they have), then approve it for a user with a set of granted scopes,
 * or deny it. The event is published only after the store has committed the decision, and only
 * by the one caller whose conditional update won (a code approved in two browsers has exactly one
 * winner). Every way to decide (the verification pages, tools, tests) goes through here.
 */
export function createApprovalService(deps: { store: Store; bus: EventBus; clock: Clock; audit: AuditLog; metrics?: Metrics }) {
  const { store, bus, clock, audit } = deps;
  const metrics = deps.metrics ?? noMetrics;

  /** The grant with its client, if it can be decided now: pending, not expired, client not blocked. */
  async function awaitingDecision(deviceGrant: DeviceGrantRecord | null): Promise<PendingApproval | null> {
    if (!deviceGrant || deviceGrantState(deviceGrant, clock.now()) !== 'pending') return null;
    const client = await store.clients.get(deviceGrant.clientId);
    if (!client || client.disabled) return null;
    return { deviceGrant, client };
  }

  async function findPending(userCodeInput: string): Promise<PendingApproval | null> {
    const userCode = normalizeUserCode(userCodeInput);
    if (!userCode) return null;
    return awaitingDecision(await store.deviceGrants.findLiveByUserCode(userCode, clock.now()));
  }

  async function findPendingById(deviceGrantId: string): Promise<PendingApproval | null> {
    return awaitingDecision(await store.deviceGrants.findById(deviceGrantId));
  }

  async function approve(input: {
    deviceGrantId: string;
    userId: string;
    /** Subset of the requested scopes; defaults to all of them. */
    grantedScopes?: string[];
    authTime?: number;
    /** OIDC Core §2: how the person authenticated (RFC 8176 values) and at what level. */
    amr?: string[];
    acr?: string | null;
  }): Promise<boolean> {
    const deviceGrant = await store.deviceGrants.findById(input.deviceGrantId);
    if (!deviceGrant) return false;
    return inGrantTrace('device grant approve', deviceGrant.traceParent, { 'oauth.client_id': deviceGrant.clientId }, () => approveFound(deviceGrant, input));
  }

  async function approveFound(
    deviceGrant: DeviceGrantRecord,
    input: { userId: string; grantedScopes?: string[]; authTime?: number; amr?: string[]; acr?: string | null },
  ): Promise<boolean> {
    const grantedScopes = input.grantedScopes ?? deviceGrant.scopes;
    if (grantedScopes.some((scope) => !deviceGrant.scopes.includes(scope))) {
      throw new Error('granted scopes must be a subset of the requested scopes');
    }
    const now = clock.now();
    const won = await store.deviceGrants.decide(
      deviceGrant.id,
      { status: 'approved', userId: input.userId, grantedScopes, authTime: input.authTime ?? now, amr: input.amr ?? [], acr: input.acr ?? null },
      now,
    );
    if (!won) return false;
    metrics.deviceOutcome(deviceGrant.clientId, 'approved', (now - deviceGrant.createdAt) / 1000);
    // The person is told only once the decision's audit record is stored too (a crash between the
    // two would leave an approval nobody can account for); the push does not wait for it.
    await Promise.all([
      audit.record('device_approved', { deviceGrantId: deviceGrant.id, clientId: deviceGrant.clientId, userId: input.userId, scope: grantedScopes.join(' ') }),
      bus.publish({ type: 'outcome', pushKey: deviceGrant.pushKey, deviceGrantId: deviceGrant.id, outcome: 'approved', at: now }),
    ]);
    return true;
  }

  async function deny(input: { deviceGrantId: string; userId: string | null }): Promise<boolean> {
    const deviceGrant = await store.deviceGrants.findById(input.deviceGrantId);
    if (!deviceGrant) return false;
    return inGrantTrace('device grant deny', deviceGrant.traceParent, { 'oauth.client_id': deviceGrant.clientId }, () => denyFound(deviceGrant, input));
  }

  async function denyFound(deviceGrant: DeviceGrantRecord, input: { userId: string | null }): Promise<boolean> {
    const now = clock.now();
    const won = await store.deviceGrants.decide(deviceGrant.id, { status: 'denied', userId: input.userId }, now);
    if (!won) return false;
    metrics.deviceOutcome(deviceGrant.clientId, 'denied', (now - deviceGrant.createdAt) / 1000);
    await Promise.all([
      audit.record('device_denied', { deviceGrantId: deviceGrant.id, clientId: deviceGrant.clientId, userId: input.userId }),
      bus.publish({ type: 'outcome', pushKey: deviceGrant.pushKey, deviceGrantId: deviceGrant.id, outcome: 'denied', at: now }),
    ]);
    return true;
  }

  /** Convenience for tests and tools: approve by user code. */
  async function approveUserCode(userCode: string, userId: string, grantedScopes?: string[]): Promise<boolean> {
    const pending = await findPending(userCode);
    if (!pending) return false;
    return approve({ deviceGrantId: pending.deviceGrant.id, userId, grantedScopes });
  }

  async function denyUserCode(userCode: string, userId: string | null): Promise<boolean> {
    const pending = await findPending(userCode);
    if (!pending) return false;
    return deny({ deviceGrantId: pending.deviceGrant.id, userId });
  }

  return { findPending, findPendingById, approve, deny, approveUserCode, denyUserCode };
}

export type ApprovalService = ReturnType<typeof createApprovalService>;
