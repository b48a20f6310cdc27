import type {
  AccessTokenRecord,
  AuditEventRecord,
  ClientRecord,
  DeviceGrantRecord,
  GrantRecord,
  PhishingControls,
  PasskeyRecord,
  RefreshTokenRecord,
  RegisteredDeviceRecord,
  ResourceRecord,
  SessionRecord,
  SigningKeyRecord,
  UserRecord,
  WebhookDeliveryRecord,
  WebhookEndpointRecord,
} from './types.ts';
import { noPhishingControls } from './types.ts';

export type Row = Record<string, unknown>;

/**
 * How one SQL backend returns the column types that differ between them: SQLite keeps lists as
 * space-joined text, booleans as 0/1 and JSON as text; PostgreSQL has text[], boolean and jsonb.
 * Everything else (names, nullability, epoch-millisecond numbers) is the same, so the mapping
 * from a row to a record is written once, here, for both stores.
 */
export interface ColumnCodec {
  list(value: unknown): string[];
  bool(value: unknown): boolean;
  json<T>(value: unknown): T | null;
}

const nullableText = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const nullableNumber = (value: unknown): number | null => (typeof value === 'number' ? value : null);

export function createRowMappers(codec: ColumnCodec) {
  const { list, bool, json } = codec;
  return {
    toClient(row: Row): ClientRecord {
      return {
        clientId: row.client_id as string,
        name: row.name as string,
        secretHash: nullableText(row.secret_hash),
        grantTypes: list(row.grant_types) as ClientRecord['grantTypes'],
        scopes: list(row.scopes),
        deviceCodeLifetime: row.device_code_lifetime as number,
        pollInterval: row.poll_interval as number,
        accessTokenFormat: row.access_token_format as ClientRecord['accessTokenFormat'],
        mayIntrospect: bool(row.may_introspect),
        audience: nullableText(row.audience),
        disabled: bool(row.disabled),
        dpopRequired: bool(row.dpop_required),
        jwks: json<NonNullable<ClientRecord['jwks']>>(row.jwks),
        jwksUri: nullableText(row.jwks_uri),
        allowedOrigins: list(row.allowed_origins),
        // Stored as one JSON object, so a control added later needs no migration; missing keys are off.
        phishing: { ...noPhishingControls, ...json<Partial<PhishingControls>>(row.phishing_controls) },
        logoUri: nullableText(row.logo_uri),
        registration: (row.registration ?? 'operator') as ClientRecord['registration'],
        approvesDevicesOf: list(row.approves_devices_of),
        createdAt: row.created_at as number,
      };
    },
    toRegisteredDevice(row: Row): RegisteredDeviceRecord {
      return {
        id: row.id as string,
        clientId: row.client_id as string,
        jkt: row.jkt as string,
        name: nullableText(row.name),
        createdAt: row.created_at as number,
      };
    },
    toResource(row: Row): ResourceRecord {
      return { resource: row.resource as string, name: row.name as string, createdAt: row.created_at as number };
    },
    toUser(row: Row): UserRecord {
      return {
        id: row.id as string,
        username: row.username as string,
        passwordHash: row.password_hash as string,
        name: nullableText(row.name),
        email: nullableText(row.email),
        emailVerified: bool(row.email_verified),
        disabled: bool(row.disabled),
        createdAt: row.created_at as number,
      };
    },
    toDeviceGrant(row: Row): DeviceGrantRecord {
      return {
        id: row.id as string,
        deviceCodeHash: row.device_code_hash as string,
        userCode: row.user_code as string,
        clientId: row.client_id as string,
        scopes: list(row.scopes),
        deviceName: nullableText(row.device_name),
        deviceModel: nullableText(row.device_model),
        requestedFrom: nullableText(row.requested_from),
        pushKey: row.push_key as string,
        status: row.status as DeviceGrantRecord['status'],
        createdAt: row.created_at as number,
        expiresAt: row.expires_at as number,
        // `interval` is a type name in PostgreSQL, so its column is poll_interval there.
        interval: (row.poll_interval ?? row.interval) as number,
        lastPolledAt: nullableNumber(row.last_polled_at),
        userId: nullableText(row.user_id),
        grantedScopes: row.granted_scopes === null || row.granted_scopes === undefined ? null : list(row.granted_scopes),
        authTime: nullableNumber(row.auth_time),
        amr: row.amr === null || row.amr === undefined ? null : list(row.amr),
        acr: nullableText(row.acr),
        decidedAt: nullableNumber(row.decided_at),
        grantId: nullableText(row.grant_id),
        dpopJkt: nullableText(row.dpop_jkt),
        resources: list(row.resources),
        traceParent: nullableText(row.trace_parent),
      };
    },
    toGrant(row: Row): GrantRecord {
      return {
        id: row.id as string,
        clientId: row.client_id as string,
        userId: nullableText(row.user_id),
        scopes: list(row.scopes),
        deviceName: nullableText(row.device_name),
        deviceModel: nullableText(row.device_model),
        authTime: nullableNumber(row.auth_time),
        amr: row.amr === null || row.amr === undefined ? null : list(row.amr),
        acr: nullableText(row.acr),
        createdAt: row.created_at as number,
        lastUsedAt: nullableNumber(row.last_used_at),
        expiresAt: row.expires_at as number,
        revokedAt: nullableNumber(row.revoked_at),
        revokedReason: nullableText(row.revoked_reason),
        dpopJkt: nullableText(row.dpop_jkt),
        resources: list(row.resources),
      };
    },
    toRefreshToken(row: Row): RefreshTokenRecord {
      return {
        tokenHash: row.token_hash as string,
        grantId: row.grant_id as string,
        clientId: row.client_id as string,
        scopes: list(row.scopes),
        createdAt: row.created_at as number,
        expiresAt: row.expires_at as number,
        rotatedAt: nullableNumber(row.rotated_at),
        revokedAt: nullableNumber(row.revoked_at),
      };
    },
    toAccessToken(row: Row): AccessTokenRecord {
      return {
        jti: row.jti as string,
        tokenHash: nullableText(row.token_hash),
        grantId: nullableText(row.grant_id),
        clientId: row.client_id as string,
        subject: row.subject as string,
        scopes: list(row.scopes),
        audience: row.audience as string,
        issuedAt: row.issued_at as number,
        expiresAt: row.expires_at as number,
        dpopJkt: nullableText(row.dpop_jkt),
        act: json<NonNullable<AccessTokenRecord['act']>>(row.act),
        revokedAt: nullableNumber(row.revoked_at),
      };
    },
    toSigningKey(row: Row): SigningKeyRecord {
      return {
        kid: row.kid as string,
        alg: row.alg as string,
        sealedPrivateJwk: row.sealed_private_jwk as string,
        publicJwk: json<Record<string, unknown>>(row.public_jwk) ?? {},
        state: row.state as SigningKeyRecord['state'],
        createdAt: row.created_at as number,
        activatedAt: nullableNumber(row.activated_at),
        retireAfter: nullableNumber(row.retire_after),
      };
    },
    toAuditEvent(row: Row): AuditEventRecord {
      return {
        id: row.id as number,
        at: row.at as number,
        event: row.event as string,
        fields: json<AuditEventRecord['fields']>(row.fields) ?? {},
      };
    },
    toWebhookEndpoint(row: Row): WebhookEndpointRecord {
      return {
        id: row.id as string,
        url: row.url as string,
        sealedSecret: row.sealed_secret as string,
        events: list(row.events),
        createdAt: row.created_at as number,
      };
    },
    toWebhookDelivery(row: Row): WebhookDeliveryRecord {
      return {
        id: row.id as string,
        endpointId: row.endpoint_id as string,
        seq: row.seq as number,
        eventType: row.event_type as string,
        orderingKey: row.ordering_key as string,
        payload: row.payload as string,
        createdAt: row.created_at as number,
        attempts: row.attempts as number,
        nextAttemptAt: row.next_attempt_at as number,
        leaseUntil: nullableNumber(row.lease_until),
        leaseOwner: nullableText(row.lease_owner),
        deliveredAt: nullableNumber(row.delivered_at),
        deadAt: nullableNumber(row.dead_at),
        lastError: nullableText(row.last_error),
      };
    },
    toPasskey(row: Row): PasskeyRecord {
      return {
        id: row.id as string,
        userId: row.user_id as string,
        publicKey: row.public_key as string,
        counter: row.counter as number,
        transports: list(row.transports),
        deviceType: row.device_type as PasskeyRecord['deviceType'],
        backedUp: bool(row.backed_up),
        createdAt: row.created_at as number,
        lastUsedAt: nullableNumber(row.last_used_at),
      };
    },
    toSession(row: Row): SessionRecord {
      return {
        idHash: row.id_hash as string,
        userId: row.user_id as string,
        createdAt: row.created_at as number,
        expiresAt: row.expires_at as number,
        authTime: row.auth_time as number,
        amr: list(row.amr),
        acr: nullableText(row.acr),
      };
    },
  };
}
