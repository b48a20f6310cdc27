/**
 * Versioned schema migrations for the SQLite store. Each entry runs once, in order, inside a
 * transaction; `PRAGMA user_version` records how far a database has come. Never edit a shipped
 * migration: add the next one.
 */
export const sqliteMigrations: readonly string[] = [
  /* 1: initial schema */ `
  CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    device_code_lifetime INTEGER NOT NULL,
    poll_interval INTEGER NOT NULL,
    access_token_format TEXT NOT NULL,
    may_introspect INTEGER NOT NULL,
    audience TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    dpop_required INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name TEXT,
    email TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE device_grants (
    id TEXT PRIMARY KEY,
    device_code_hash TEXT NOT NULL UNIQUE,
    user_code TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    device_name TEXT,
    device_model TEXT,
    requested_from TEXT,
    push_key TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    interval INTEGER NOT NULL,
    last_polled_at INTEGER,
    user_id TEXT,
    granted_scopes TEXT,
    auth_time INTEGER,
    decided_at INTEGER,
    grant_id TEXT,
    dpop_jkt TEXT,
    expiry_reported INTEGER NOT NULL DEFAULT 0
  );
  -- User codes are unique among live grants; create() checks inside its transaction.
  CREATE INDEX device_grants_user_code ON device_grants (user_code, expires_at);
  CREATE INDEX device_grants_expires ON device_grants (expires_at);
  CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT,
    scopes TEXT NOT NULL,
    device_name TEXT,
    device_model TEXT,
    auth_time INTEGER,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT,
    dpop_jkt TEXT
  );
  CREATE INDEX grants_user ON grants (user_id);
  CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
  );
  CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
  CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY,
    token_hash TEXT UNIQUE,
    grant_id TEXT,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    audience TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    dpop_jkt TEXT,
    revoked_at INTEGER
  );
  CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
  CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed_private_jwk TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    activated_at INTEGER,
    retire_after INTEGER
  );
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    auth_time INTEGER NOT NULL
  );
  `,
  /* 2: private_key_jwt client keys (RFC 7523): an inline JWK Set (JSON) or its URL */ `
  ALTER TABLE clients ADD COLUMN jwks TEXT;
  ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
  `,
  /* 3: audit log (security events), append-only: the database itself refuses to change the record */ `
  CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    fields TEXT NOT NULL
  );
  CREATE INDEX audit_events_at ON audit_events (at);
  CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
  CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
  `,
  /* 4: single-use jti of DPoP proofs and client assertions, kept across restarts (docs/security.md DPOP-PROOF) */ `
  CREATE TABLE replay_identifiers (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX replay_identifiers_expires ON replay_identifiers (expires_at);
  `,
  /* 5: cross-device phishing controls per client, and device keys the operator enrolled (docs/security.md) */ `
  ALTER TABLE clients ADD COLUMN phishing_controls TEXT;
  CREATE TABLE registered_devices (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    jkt TEXT NOT NULL,
    name TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (client_id, jkt)
  );
  `,
  /* 6: retries after a lost answer (docs/security.md REDEEM-RETRY, REFRESH-RETRY): when a code was redeemed, which token succeeded which */ `
  ALTER TABLE device_grants ADD COLUMN redeemed_at INTEGER;
  ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
  `,
  /* 7: people who sign in through an upstream OpenID provider, linked by (issuer, subject), never by e-mail
     (docs/security.md UPSTREAM-LINK); how a person authenticated (OIDC amr, acr) carried from the sign-in
     session to the decision and the token family, so the ID token says it; a client's logo for the
     consent page (RFC 7591 §2 logo_uri) */ `
  CREATE TABLE user_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
  );
  CREATE INDEX user_identities_user ON user_identities (user_id);
  ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
  ALTER TABLE sessions ADD COLUMN acr TEXT;
  ALTER TABLE device_grants ADD COLUMN amr TEXT;
  ALTER TABLE device_grants ADD COLUMN acr TEXT;
  ALTER TABLE grants ADD COLUMN amr TEXT;
  ALTER TABLE grants ADD COLUMN acr TEXT;
  ALTER TABLE clients ADD COLUMN logo_uri TEXT;
  `,
  /* 8: resource servers (RFC 8707 resource indicators) and what each grant may reach */ `
  CREATE TABLE resources (
    resource TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  ALTER TABLE device_grants ADD COLUMN resources TEXT NOT NULL DEFAULT '';
  ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT '';
  `,
  /* 9: who acted for the subject of an exchanged token (RFC 8693 act claim), for introspection */ `
  ALTER TABLE access_tokens ADD COLUMN act TEXT;
  `,
  /* 10: clients that registered themselves (RFC 7591, client id metadata documents), shown as unverified */ `
  ALTER TABLE clients ADD COLUMN registration TEXT NOT NULL DEFAULT 'operator';
  `,
  /* 11: web origins a client's browser app runs on (CORS, docs/security.md CORS-ORIGIN), space-joined */ `
  ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '';
  `,
  /* 12: webhook endpoints and the outbox of their deliveries (docs/deploy.md#metrics-traces-and-webhooks) */ `
  CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    lease_owner TEXT,
    delivered_at INTEGER,
    dead_at INTEGER,
    last_error TEXT
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;
  CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;
  CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at) WHERE delivered_at IS NOT NULL;
  `,
  /* 13: the trace a device grant's sign-in belongs to (W3C traceparent; docs/deploy.md#metrics-traces-and-webhooks) */ `
  ALTER TABLE device_grants ADD COLUMN trace_parent TEXT;
  `,
  /* 14: approval from a product's own site: which clients' devices a client may approve */ `
  ALTER TABLE clients ADD COLUMN approves_devices_of TEXT NOT NULL DEFAULT '';
  `,
  /* 15: passkeys (WebAuthn credentials) of local accounts */ `
  CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    counter INTEGER NOT NULL,
    transports TEXT NOT NULL,
    device_type TEXT NOT NULL,
    backed_up INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
  );
  CREATE INDEX passkeys_user ON passkeys (user_id);
  `,
];
