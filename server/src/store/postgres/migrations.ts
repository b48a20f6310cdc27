/**
 * Versioned schema migrations for the PostgreSQL store. Each entry runs once, in order, in a
 * transaction of its own; the `schema_migrations` table records which have run (see
 * `migratePostgres` in ./postgres-store.ts). Never edit a shipped migration: add the next one, and
 * keep it additive so instances of the previous release keep working during a rolling upgrade.
 *
 * Instants are epoch milliseconds in BIGINT (parsed back to numbers by the store); scope lists are
 * text[]; the public JWK is jsonb. Column names match the SQLite schema, except `poll_interval`
 * (`interval` is a type name in PostgreSQL and reads ambiguously in expressions).
 */
export const postgresMigrations: readonly string[] = [
  /* 1: initial schema */ `
  CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    grant_types TEXT[] NOT NULL,
    scopes TEXT[] NOT NULL,
    device_code_lifetime INTEGER NOT NULL,
    poll_interval INTEGER NOT NULL,
    access_token_format TEXT NOT NULL,
    may_introspect BOOLEAN NOT NULL,
    audience TEXT,
    disabled BOOLEAN NOT NULL DEFAULT false,
    dpop_required BOOLEAN NOT NULL DEFAULT false,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    name TEXT,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT false,
    disabled BOOLEAN NOT NULL DEFAULT false,
    created_at BIGINT NOT NULL,
    CONSTRAINT users_username_unique UNIQUE (username)
  );
  CREATE TABLE device_grants (
    id TEXT PRIMARY KEY,
    device_code_hash TEXT NOT NULL UNIQUE,
    -- Unique among live grants only, so no unique index: create() serializes per code with an
    -- advisory lock and checks for a live holder (an expired row stays for its retention time,
    -- so a late poll still answers expired_token).
    user_code TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT[] NOT NULL,
    device_name TEXT,
    device_model TEXT,
    requested_from TEXT,
    push_key TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    poll_interval INTEGER NOT NULL,
    last_polled_at BIGINT,
    -- The verdict of the latest poll, written by the same UPDATE that judged it, so that one
    -- statement can both decide and report it (RETURNING only sees the new row).
    last_poll_slow_down BOOLEAN NOT NULL DEFAULT false,
    user_id TEXT,
    granted_scopes TEXT[],
    auth_time BIGINT,
    decided_at BIGINT,
    grant_id TEXT,
    dpop_jkt TEXT,
    expiry_reported BOOLEAN NOT NULL DEFAULT false
  );
  CREATE INDEX device_grants_user_code ON device_grants (user_code, expires_at);
  CREATE INDEX device_grants_expires ON device_grants (expires_at);
  -- What the sweeper's expiry report scans: only pending grants not yet reported.
  CREATE INDEX device_grants_unreported_expiry ON device_grants (expires_at)
    WHERE status = 'pending' AND NOT expiry_reported;
  CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT,
    scopes TEXT[] NOT NULL,
    device_name TEXT,
    device_model TEXT,
    auth_time BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT,
    dpop_jkt TEXT
  );
  CREATE INDEX grants_user ON grants (user_id);
  CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT[] NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked_at BIGINT
  );
  CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
  CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
  CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY,
    token_hash TEXT UNIQUE,
    grant_id TEXT,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scopes TEXT[] NOT NULL,
    audience TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    dpop_jkt TEXT,
    revoked_at BIGINT
  );
  CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
  CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed_private_jwk TEXT NOT NULL,
    public_jwk JSONB NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retire_after BIGINT
  );
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    auth_time BIGINT NOT NULL
  );
  CREATE INDEX sessions_expires ON sessions (expires_at);
  `,
  /* 2: private_key_jwt client keys (RFC 7523): an inline JWK Set or its URL */ `
  ALTER TABLE clients ADD COLUMN jwks JSONB;
  ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
  `,
  /* 3: audit log (security events), append-only: the database itself refuses to change the record */ `
  CREATE TABLE audit_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    fields JSONB NOT NULL
  );
  CREATE INDEX audit_events_at ON audit_events (at);
  CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit events are append-only'; END;
  $$;
  CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
  CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
  `,
  /* 4: single-use jti of DPoP proofs and client assertions, shared by all instances (docs/deploy.md, scale out) */ `
  CREATE TABLE replay_identifiers (
    key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX replay_identifiers_expires ON replay_identifiers (expires_at);
  `,
  /* 5: the expiry scheduler claims every grant that ends unredeemed, decided ones too */ `
  DROP INDEX device_grants_unreported_expiry;
  CREATE INDEX device_grants_unreported_expiry ON device_grants (expires_at)
    WHERE status <> 'redeemed' AND NOT expiry_reported;
  `,
  /* 6: cross-device phishing controls per client, and device keys the operator enrolled (docs/security.md) */ `
  ALTER TABLE clients ADD COLUMN phishing_controls JSONB;
  CREATE TABLE registered_devices (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    jkt TEXT NOT NULL,
    name TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, jkt)
  );
  `,
  /* 7: retries after a lost answer (docs/security.md REDEEM-RETRY, REFRESH-RETRY): when a code was redeemed, which token succeeded which */ `
  ALTER TABLE device_grants ADD COLUMN redeemed_at BIGINT;
  ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
  `,
  /* 8: people who sign in through an upstream OpenID provider, linked by (issuer, subject), never by e-mail
     (docs/security.md UPSTREAM-LINK); how a person authenticated (OIDC amr, acr) carried from the sign-in
     session to the decision and the token family, so the ID token says it; a client's logo for the
     consent page (RFC 7591 §2 logo_uri) */ `
  CREATE TABLE user_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
  );
  CREATE INDEX user_identities_user ON user_identities (user_id);
  ALTER TABLE sessions ADD COLUMN amr TEXT[] NOT NULL DEFAULT '{}';
  ALTER TABLE sessions ADD COLUMN acr TEXT;
  ALTER TABLE device_grants ADD COLUMN amr TEXT[];
  ALTER TABLE device_grants ADD COLUMN acr TEXT;
  ALTER TABLE grants ADD COLUMN amr TEXT[];
  ALTER TABLE grants ADD COLUMN acr TEXT;
  ALTER TABLE clients ADD COLUMN logo_uri TEXT;
  `,
  /* 9: resource servers (RFC 8707 resource indicators) and what each grant may reach */ `
  CREATE TABLE resources (
    resource TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  ALTER TABLE device_grants ADD COLUMN resources TEXT[] NOT NULL DEFAULT '{}';
  ALTER TABLE grants ADD COLUMN resources TEXT[] NOT NULL DEFAULT '{}';
  `,
  /* 10: who acted for the subject of an exchanged token (RFC 8693 act claim), for introspection */ `
  ALTER TABLE access_tokens ADD COLUMN act JSONB;
  `,
  /* 11: clients that registered themselves (RFC 7591, client id metadata documents), shown as unverified */ `
  ALTER TABLE clients ADD COLUMN registration TEXT NOT NULL DEFAULT 'operator';
  `,
  /* 12: web origins a client's browser app runs on (CORS, docs/security.md CORS-ORIGIN) */ `
  ALTER TABLE clients ADD COLUMN allowed_origins TEXT[] NOT NULL DEFAULT '{}';
  `,
  /* 13: webhook endpoints and the outbox of their deliveries (docs/deploy.md#metrics-traces-and-webhooks) */ `
  CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    events TEXT[] NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE webhook_deliveries (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    lease_owner TEXT,
    delivered_at BIGINT,
    dead_at BIGINT,
    last_error TEXT
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;
  CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;
  CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at) WHERE delivered_at IS NOT NULL;
  `,
  /* 14: the trace a device grant's sign-in belongs to (W3C traceparent; docs/deploy.md#metrics-traces-and-webhooks) */ `
  ALTER TABLE device_grants ADD COLUMN trace_parent TEXT;
  `,
  /* 15: approval from a product's own site: which clients' devices a client may approve */ `
  ALTER TABLE clients ADD COLUMN approves_devices_of TEXT[] NOT NULL DEFAULT '{}';
  `,
  /* 16: passkeys (WebAuthn credentials) of local accounts */ `
  CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    counter BIGINT NOT NULL,
    transports TEXT[] NOT NULL,
    device_type TEXT NOT NULL,
    backed_up BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
  );
  CREATE INDEX passkeys_user ON passkeys (user_id);
  `,
  /*
   * 17: a user code's claim, unique, so a device grant is created in one statement without an
   * advisory lock (store/postgres/device-grants.ts). The newest row of each code holds its claim;
   * instances of the previous release insert rows without one and keep serializing among
   * themselves by the lock, while the new statement also checks user_code among live rows.
   */ `
  ALTER TABLE device_grants ADD COLUMN user_code_claim TEXT;
  UPDATE device_grants AS d SET user_code_claim = d.user_code
    WHERE NOT EXISTS (SELECT 1 FROM device_grants AS o WHERE o.user_code = d.user_code AND (o.created_at, o.id) > (d.created_at, d.id));
  CREATE UNIQUE INDEX device_grants_user_code_claim ON device_grants (user_code_claim);
  `,
  /*
   * 18: every change to a client is announced (NOTIFY devicegate_clients, the client id; '*' for
   * a TRUNCATE), whoever makes it, so each instance's client cache drops the entry
   * (store/postgres/clients.ts). A notification is sent when its transaction commits.
   */ `
  CREATE FUNCTION devicegate_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'TRUNCATE' THEN
      PERFORM pg_notify('devicegate_clients', '*');
    ELSIF TG_OP = 'DELETE' THEN
      PERFORM pg_notify('devicegate_clients', OLD.client_id);
    ELSE
      PERFORM pg_notify('devicegate_clients', NEW.client_id);
      IF TG_OP = 'UPDATE' AND OLD.client_id <> NEW.client_id THEN
        PERFORM pg_notify('devicegate_clients', OLD.client_id);
      END IF;
    END IF;
    RETURN NULL;
  END
  $$;
  CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION devicegate_client_changed();
  CREATE TRIGGER clients_truncated AFTER TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION devicegate_client_changed();
  `,
];
