import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DevicegateError } from './errors.ts';

/**
 * A boolean setting: true/false from JSON, or "true"/"1"/"yes"/"on" and "false"/"0"/"no"/"off"
 * from the environment or flags. (z.coerce.boolean would read the string "false" as true.)
 */
const flag = () =>
  z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    return value;
  }, z.boolean({ invalid_type_error: 'must be true or false' }));

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/** One abuse limit: at most `points` requests per `duration` seconds per key. */
const limitRule = (points: number, duration: number) =>
  z
    .object({ points: z.coerce.number().int().min(1), duration: z.coerce.number().int().min(1).max(86400) })
    .strict()
    .default({ points, duration });

/**
 * Abuse limits (rate-limiter-flexible), one bucket per concern. Generous for people and devices,
 * tight for guessers and floods. A refused request gets 429 with Retry-After and the first refusal
 * of a key in a window becomes an audit event. Behind a NAT many devices share one address: raise
 * the per-address buckets for such sites (and for load tests) rather than turning limits off.
 */
export const limitsSchema = z
  .object({
    /**
     * Where counters live. 'auto': in PostgreSQL when databaseUrl is set (N instances must share
     * counters, or every limit is N times looser), else in process memory (one instance).
     */
    store: z.enum(['auto', 'memory', 'postgres']).default('auto'),
    /**
     * With shared counters, the share of a flood limit (device authorization, token, revocation,
     * introspection, userinfo, metadata) each instance admits from its own memory before it asks
     * the shared counter, and then carries to it: a round trip to the database per request was
     * a third of a token poll's (docs/performance.md). 0.1 lets N instances admit at most
     * points + 2 × (N − 1) × ⌊points × 0.1⌋ per window, one instance alone exactly points
     * (docs/security.md LIMIT-SHARED); the guessing limits (codes, sign-in, client secrets,
     * registration) are always counted exactly. 0 asks the shared counter on every request.
     */
    localShare: z.coerce.number().min(0).max(0.5).default(0.1),
    /** RFC 8628 §5.2, docs/security.md AUTHZ-LIMITED: a device asks once per sign-in; 30 a minute per client and address stops code-space floods. */
    deviceAuthorizationPerClientAndAddress: limitRule(30, 60),
    /** Polls are paced by slow_down (RFC 8628 §3.5); this stops a runaway client: 600 a minute is 50 devices at 5 s behind one address. */
    tokenPerAddress: limitRule(600, 60),
    /** A device revokes once at logout; per client and address, since public clients share one client_id anyone can claim. */
    revocationPerClientAndAddress: limitRule(60, 60),
    /** Resource servers introspect often (RFC 7662) but cache; counted after authentication, so nobody spends another client's budget. */
    introspectionPerClient: limitRule(3000, 60),
    /** Userinfo (OIDC Core §5.3) is called after sign-in and on refresh, not in a loop. */
    userinfoPerAddress: limitRule(300, 60),
    /** Discovery and JWKS are cacheable (max-age 300); 300 a minute per address is far above any honest client. */
    metadataPerAddress: limitRule(300, 60),
    /**
     * Failed client authentications with a credential (wrong secret or assertion, or one for an
     * unknown client) per address: online guessing of client secrets, and each failure costs
     * argon2 time by design. Once 30 fail in a minute, credentials from that address get 429
     * before any is checked. Public clients naming themselves are not counted.
     */
    clientAuthenticationFailuresPerAddress: limitRule(30, 60),
    /** RFC 8628 §5.1: user code guesses, 10 a minute per address and per browser session. */
    userCodeEntryPerAddress: limitRule(10, 60),
    userCodeEntryPerSession: limitRule(10, 60),
    /** Self-registration (RFC 7591) is rare and each one adds a client: 10 an hour per address. */
    registrationPerAddress: limitRule(10, 3600),
    /**
     * RFC 8628 §5.1 for the approval API (docs/security.md API-CREDENTIAL-THEFT): a product's site
     * enters the codes of all its visitors through one client, so its bucket is per calling client
     * instead of per address and session. 60 a minute is a sign-in a second; a stolen credential
     * then guesses at most 60 codes a minute, and with 10,000 codes live among 20^8 that is one hit
     * in about 40,000 minutes on average (the guess alarm tightens it further).
     */
    userCodeEntryPerClient: limitRule(60, 60),
    /** Password guessing: 5 per account per 5 minutes, 20 per address. */
    signInPerAccount: limitRule(5, 300),
    signInPerAddress: limitRule(20, 300),
    /**
     * RFC 8628 §5.1, docs/security.md CODE-GUESSING: per-address limits alone lose to a botnet, so
     * failed user codes are also counted across all addresses. Above `threshold` per `duration`
     * seconds an alarm is raised (audit event user_code_guess_alarm, error log) and, while it
     * lasts, every code entry costs `tightenFactor` points (10 a minute becomes 2), and past
     * `maxFailures` it is closed until the window ends (CODE-GUESSING). 100 a minute is
     * far above the mistypes of a single site; scale it with the number of people who enter codes
     * at once.
     */
    userCodeGuessAlarm: z
      .object({
        threshold: z.coerce.number().int().min(1).default(100),
        duration: z.coerce.number().int().min(1).max(3600).default(60),
        tightenFactor: z.coerce.number().int().min(1).max(100).default(5),
        /**
         * The cap on the total: once a window holds this many failed codes, code entry is closed
         * for everyone until the window ends (429 with Retry-After), so no botnet, however many
         * addresses it has, makes more than this many guesses a window. 300 a minute is 432,000 a
         * day: with 1,000 live codes among 20^8 that finds one code every 60 days or so; the price
         * is that an attack closes code entry for the rest of each minute it runs.
         */
        maxFailures: z.coerce.number().int().min(1).default(300),
      })
      .strict()
      .default({}),
  })
  .strict();

/** An https URL, or http on loopback only (development and tests), like the issuer. */
const secureUrl = () =>
  z
    .string()
    .url()
    .refine((value) => {
      const url = new URL(value);
      return url.protocol === 'https:' || (url.protocol === 'http:' && loopbackHosts.has(url.hostname));
    }, 'must be an https:// URL (http only for localhost)');

/** An image the pages show: an https URL (its origin joins the CSP's img-src) or a data:image URI. */
const imageSource = () =>
  z.union([secureUrl(), z.string().regex(/^data:image\/(png|svg\+xml|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/, 'must be a data:image/...;base64 URI')]);

/**
 * One upstream OpenID provider people may sign in with (README "Bring your own identity
 * provider", docs/security.md UPSTREAM-*). Discovered from its issuer (OIDC Discovery 1.0);
 * authorization code with PKCE (RFC 7636), state and nonce, ID token validated by openid-client.
 */
export const upstreamProviderSchema = z
  .object({
    /** In the callback path (<verificationPath>/sign-in/<id>/callback): short, lower case. */
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 lower-case letters, digits and dashes'),
    /** The provider's issuer; its discovery document is read from <issuer>/.well-known/openid-configuration. */
    issuer: secureUrl(),
    clientId: z.string().min(1),
    /** client_secret_basic. Set this or privateKeyFile. */
    clientSecret: z.string().min(1).optional(),
    /** PKCS#8 PEM file of the key for private_key_jwt (RFC 7523): no shared secret to leak. */
    privateKeyFile: z.string().min(1).optional(),
    /** ES256 like our own tokens: short, fast, supported by every provider that takes private_key_jwt. */
    privateKeyAlg: z.enum(['ES256', 'RS256', 'PS256', 'EdDSA']).default('ES256'),
    /** The key's kid, when the provider registered several keys for the client. */
    privateKeyId: z.string().min(1).optional(),
    /** What devicegate needs to make an account: the subject, a name and an e-mail address. */
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/)).min(1).default(['openid', 'profile', 'email']),
    /** The button's text: "Continue with <label>". */
    label: z.string().min(1).max(64),
    /** The button's icon, decorative (the label says it all). */
    icon: imageSource().optional(),
    /** Only people whose verified e-mail address is in one of these domains. Unset: anyone the provider signs in. */
    allowedEmailDomains: z.array(z.string().min(1).toLowerCase()).min(1).optional(),
    /** Only people whose claim `name` equals (or, for a list claim, contains) one of `values`. */
    requiredClaim: z.object({ name: z.string().min(1), values: z.array(z.string()).min(1) }).strict().optional(),
    /** Which upstream claims fill the account; the standard OIDC Core §5.1 names unless a provider differs. */
    claims: z
      .object({
        username: z.string().min(1).default('preferred_username'),
        name: z.string().min(1).default('name'),
        email: z.string().min(1).default('email'),
        emailVerified: z.string().min(1).default('email_verified'),
      })
      .strict()
      .default({}),
    /**
     * Also read the userinfo endpoint: many providers put profile claims there only (OIDC Core
     * §5.4 releases scope claims from userinfo when an access token is issued).
     */
    userinfo: flag().default(true),
  })
  .strict()
  .refine((provider) => Boolean(provider.clientSecret) !== Boolean(provider.privateKeyFile), {
    message: 'set clientSecret or privateKeyFile (private_key_jwt), exactly one',
  });

export type UpstreamProviderConfig = z.output<typeof upstreamProviderSchema>;

/**
 * The whole configuration of the appliance in one validated schema. Every default sits next to
 * the reason it was chosen; the README's reference is checked against this file by a test.
 * Sources, later ones winning: defaults < config file (JSON) < DEVICEGATE_* environment < flags.
 */
export const configSchema = z
  .object({
    /** Loopback by default: an appliance is exposed on purpose, behind a TLS proxy. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Unprivileged, so no root is needed; the TLS proxy in front listens on 443. */
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Public base URL; the `iss` of every token. Defaults to http://<host>:<port>. */
    issuer: z.string().url().optional(),
    /** SQLite database, master key and other local state live here. */
    dataDir: z.string().min(1).default('./data'),
    /** postgres:// URL to use PostgreSQL instead of SQLite (several instances, one state). */
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    /** Trust X-Forwarded-For from a proxy, so limits and the consent page see the device's address. */
    trustProxy: flag().default(false),
    /** Audit events, warnings and errors; request lines only at debug (docs/performance.md#request-logs-at-debug). */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** ES256: short signatures, fast, supported everywhere JOSE is. */
    signingAlg: z.enum(['ES256', 'RS256', 'EdDSA']).default('ES256'),
    /** RFC 9700 §4.14 / RFC 9068: short-lived access tokens keep "JWT but revocable" honest. */
    accessTokenLifetime: z.coerce.number().int().min(30).max(86400).default(600),
    /** The device reads its ID token once, right after sign-in; no reason to outlive the access token. */
    idTokenLifetime: z.coerce.number().int().min(30).max(86400).default(600),
    /** Idle lifetime of one refresh token: a device unused for 30 days signs in again. */
    refreshTokenLifetime: z.coerce.number().int().min(60).default(30 * 86400),
    /** Absolute cap on a token family (RFC 9700 §4.14.2; oidc-provider caps at a year too). */
    grantLifetime: z.coerce.number().int().min(60).default(365 * 86400),
    /**
     * RFC 8628 §3.2 defaults for clients that set none: 10 minutes, 5 seconds. Short on purpose
     * (RFC 10027 §6; docs/security.md CODE-SHORT-LIFE): a phisher who relays a code has only this
     * long.
     */
    deviceCodeLifetime: z.coerce.number().int().min(30).max(3600).default(600),
    /**
     * Seconds after a device code is redeemed during which the same client, with the same DPoP
     * key, may present it again and get a fresh token set for the same family, the unused earlier
     * one revoked (docs/security.md REDEEM-RETRY): an answer lost to a Wi-Fi drop or an appliance
     * crash no longer loses the approval. 60 s covers the device client's 30 s request timeout,
     * its retry, and a restart of the appliance under systemd; a copied code gains nothing it
     * could not have had by being first, and is refused once the device used its refresh token.
     * 0 turns retries off.
     */
    redemptionRetryWindow: z.coerce.number().int().min(0).max(600).default(60),
    /**
     * Seconds after a refresh during which the refresh token it replaced, presented again by the
     * same client (same DPoP key where bound), gets a new successor in place of the unused one
     * (docs/security.md REFRESH-RETRY): a lost refresh answer no longer reads as reuse and signs
     * the device out. 60 s for the same reasons as redemptionRetryWindow; once the successor is
     * used, or after the window, it is reuse as before (RFC 9700 §4.14.2). 0 turns it off.
     */
    refreshRetryWindow: z.coerce.number().int().min(0).max(600).default(60),
    pollInterval: z.coerce.number().int().min(1).max(60).default(5),
    /** Short and typeable (RFC 8628 §3.2); the verification pages are mounted here. */
    verificationPath: z.string().regex(/^\/[a-z0-9/_-]*$/i).default('/device'),
    /**
     * The address people are told to open, given out as verification_uri (RFC 8628 §3.2: short
     * enough to type from a TV screen, e.g. https://example.com/tv). It may be on another host than
     * the issuer: the proxy there sends it to devicegate, which redirects it to the pages
     * (docs/deploy.md#a-short-verification-address). Defaults to issuer + verificationPath.
     */
    verificationUri: z.string().url().optional(),
    /** Sign-in sessions of the verification pages: a working day, so approving several devices is one sign-in. */
    sessionLifetime: z.coerce.number().int().min(60).default(8 * 3600),
    /** Largest request body accepted by the OAuth endpoints; real requests are far smaller. */
    maxBodyBytes: z.coerce.number().int().min(1024).max(1024 * 1024).default(16 * 1024),
    /**
     * Seconds between SIGTERM and closing the listener, while /readyz already answers 503 and
     * requests are still served: the TLS proxy's health check takes the instance out of rotation
     * first, so a rolling restart drops nothing. 0 stops at once (one instance, tests); behind a
     * proxy set it above the proxy's check interval times its failure count (docs/deploy.md).
     */
    drainDelay: z.coerce.number().int().min(0).max(300).default(0),
    /** Expired rows are kept this long (for "expired" vs "unknown" answers), then swept. */
    sweepRetention: z.coerce.number().int().min(0).default(3600),
    /** A sweep is a few indexed DELETEs, so it runs often and rows go soon after their retention. */
    sweepInterval: z.coerce.number().int().min(1).default(30),
    /** Demo client and user on first start with an empty store (quickstart). */
    demo: flag().default(true),
    demoPassword: z.string().min(8).optional(),
    /** 32 bytes (base64/base64url/hex) sealing the signing keys; else a 0600 file in dataDir. */
    masterKey: z.string().optional(),
    push: z
      .object({
        /** On: it costs nothing until a device connects, and standard clients ignore the push member. */
        websocket: flag().default(true),
        /** Embedded MQTT broker (aedes) so the quickstart needs nothing else. */
        mqttEmbedded: flag().default(true),
        /** Loopback, like `host`. */
        mqttHost: z.string().default('127.0.0.1'),
        /** MQTT's registered port, which every client library assumes. */
        mqttPort: z.coerce.number().int().min(0).max(65535).default(1883),
        /** External broker (e.g. mosquitto) to publish to; replaces the embedded one. */
        mqttUrl: z.string().regex(/^mqtts?:\/\//, 'must be an mqtt:// or mqtts:// URL').optional(),
        mqttUsername: z.string().optional(),
        mqttPassword: z.string().optional(),
        /** URL devices are told to connect to, when it differs from where we listen or publish. */
        mqttPublicUrl: z.string().regex(/^(mqtts?|wss?):\/\//).optional(),
        /**
         * How an external broker checks devices: 'acl' (its ACL file keys reads to the username,
         * the push key; deploy/mosquitto) or 'dynsec' (the appliance, as mosquitto's dynamic
         * security admin, creates a broker client per grant with the device code as password, so
         * wrong codes and foreign subscriptions are refused; deploy/mosquitto/dynsec).
         */
        mqttAuth: z.enum(['acl', 'dynsec']).default('acl'),
        /** Milliseconds device authorization waits at most for the broker to create the grant's client (dynsec). */
        mqttAuthWait: z.coerce.number().int().min(0).max(10_000).default(1000),
        /**
         * Which bus carries grant events between instances: 'memory' (one instance), 'mqtt' (the
         * external broker), 'postgres' (LISTEN/NOTIFY on databaseUrl). 'auto': the external broker
         * when mqttUrl is set, else PostgreSQL when databaseUrl is set (instances sharing a
         * database must share events, or a push misses devices on the others), else memory.
         */
        bus: z.enum(['auto', 'memory', 'mqtt', 'postgres']).default('auto'),
        /**
         * Open connections per push channel (WebSocket, embedded MQTT), in total and per address:
         * bounded so a flood cannot exhaust sockets and memory. Many devices may share one address
         * behind a NAT: raise the per-address limit for such sites and for load tests. 20,000 in
         * total is twice the 10,000 waiting devices the bench holds (docs/performance.md#goals).
         */
        maxConnections: z.coerce.number().int().min(1).default(20_000),
        maxConnectionsPerAddress: z.coerce.number().int().min(1).default(200),
        /**
         * WebSocket connections waiting on one device code (docs/security.md PUSH-BOUNDED). A
         * device needs one, two for a moment after a reconnect while the dropped one is still
         * being noticed (up to two ping intervals); 4 leaves room for that and refuses fan-out by
         * whoever holds the code.
         */
        maxSubscribersPerDeviceCode: z.coerce.number().int().min(1).max(100).default(4),
        /** Seconds a new connection may take to subscribe (WebSocket) or CONNECT (MQTT) before it is dropped. */
        subscribeTimeout: z.coerce.number().int().min(1).max(60).default(5),
        /**
         * Seconds between WebSocket pings to each waiting device; one that has not answered the
         * previous ping is cut. 30 s keeps connections alive through the idle timeouts of common
         * proxies and NATs (60 s and up); lower it for one with a shorter timeout.
         */
        pingInterval: z.coerce.number().int().min(1).max(300).default(30),
      })
      .default({}),
    limits: limitsSchema.default({}),
    /**
     * private_key_jwt assertions must name the issuer as their one `aud` (docs/security.md
     * ASSERTION-AUDIENCE): the token endpoint URL as audience is what the audience-injection
     * attack on RFC 7523 exploits. Off, so the safe rule holds; turn it on only while clients that
     * still put the token endpoint URL in `aud` are updated (a single string either way).
     */
    clientAssertionTokenEndpointAudience: flag().default(false),
    /** How people sign in on the verification pages (README "Bring your own identity provider"). */
    signIn: z
      .object({
        /**
         * Local accounts' passwords (`devicegate users add`). On, so the quickstart's demo user can
         * sign in; turn off once people sign in through providers: the form is gone and a password
         * POST is refused (docs/security.md UPSTREAM-PASSWORDS-OFF).
         */
        localPasswords: flag().default(true),
        /**
         * Seconds a person has between leaving for a provider and coming back: the device code's
         * default lifetime, as the sign-in there (with its second factor) is part of that wait.
         */
        flowLifetime: z.coerce.number().int().min(60).max(3600).default(600),
        /** Upstream OpenID providers, one button each; none by default (local accounts only). */
        providers: z
          .array(upstreamProviderSchema)
          .max(20)
          .refine((list) => new Set(list.map((provider) => provider.id)).size === list.length, 'provider ids must be unique')
          .optional(),
      })
      .strict()
      .default({}),
    /** The product's look on the verification pages; devicegate's own by default. */
    branding: z
      .object({
        /** Shown in the header and every title. Unset: the catalog's "devicegate". */
        productName: z.string().min(1).max(64).optional(),
        /** The header's logo: an https URL (its origin alone joins img-src) or a data:image URI. */
        logoUrl: imageSource().optional(),
        /** Or a PNG/SVG/JPEG/WebP file served by devicegate itself (no CSP change at all). */
        logoFile: z.string().min(1).optional(),
        /**
         * Buttons, links and the focus ring, as #rrggbb. Unset: devicegate's own colours, light and
         * dark. A brand colour applies to both schemes: choose one that reads on white and on black.
         */
        primaryColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be #rrggbb').optional(),
        /** Text on primary buttons. Unset: devicegate's. */
        onPrimaryColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be #rrggbb').optional(),
        /** The header's band. Unset: the page's background. */
        headerColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be #rrggbb').optional(),
      })
      .strict()
      .default({}),
    /**
     * Prometheus metrics at /metrics (README "Operating it"). Off by default: a listener nobody
     * planned for is one more surface to guard, and an appliance that is not scraped should not
     * pay for counting.
     */
    metrics: z
      .object({
        enabled: flag().default(false),
        /** Loopback, like `host`: the scraper runs beside the appliance or reaches it through the proxy. */
        host: z.string().min(1).default('127.0.0.1'),
        /** The port Prometheus' port registry gives OpenTelemetry's Prometheus exporter, so no other exporter expects it. */
        port: z.coerce.number().int().min(0).max(65535).default(9464),
        /** When set, every scrape must send `Authorization: Bearer <token>` (a metrics port reachable beyond loopback). */
        token: z.string().min(16, 'must be at least 16 characters').optional(),
        /**
         * Serve /metrics on the public listener instead of a listener of its own (one port behind
         * the proxy); refused without a token, since the public listener faces the internet.
         */
        onPublicListener: flag().default(false),
      })
      .strict()
      .default({}),
    /** Webhooks for grant and security events (docs/deploy.md#metrics-traces-and-webhooks), delivered from the store's outbox. */
    webhooks: z
      .object({
        /** Milliseconds between outbox polls: another instance's events wait at most this long; an instance's own go at once. */
        pollInterval: z.coerce.number().int().min(10).max(60_000).default(1000),
        /** Milliseconds a receiver may take to answer before the attempt counts as failed (Standard Webhooks suggests short timeouts). */
        timeout: z.coerce.number().int().min(100).max(60_000).default(10_000),
        /** Milliseconds before the first retry; each later one waits twice as long as the one before. */
        retryDelay: z.coerce.number().int().min(10).max(3_600_000).default(5000),
        /** Milliseconds a retry waits at most: a receiver that comes back is served within this. */
        retryMaxDelay: z.coerce.number().int().min(10).max(86_400_000).default(3_600_000),
        /** Attempts before a delivery goes to the dead-letter list: 5 s doubling to an hour is about a day of retries. */
        maxAttempts: z.coerce.number().int().min(1).max(100).default(30),
        /** Seconds an instance holds a claimed delivery; longer than `timeout`, so only a crashed instance's claims are taken over. */
        lease: z.coerce.number().int().min(1).max(3600).default(60),
      })
      .strict()
      .default({}),
    /** DPoP (RFC 9449) at the token endpoint. */
    /**
     * Clients that register themselves (docs/security.md CIMD-FETCH and REGISTRATION-POLICY). Off by default: an
     * open registration endpoint lets anyone mint client ids that look like real apps on the
     * consent page, so an operator opts in and chooses who may register.
     */
    registration: z
      .object({
        /**
         * Dynamic client registration (RFC 7591) at /oauth/register, for public device-flow
         * clients only. Needs `initialAccessTokenHashes` or `softwareStatementKeys`: there is no
         * open registration, every registrant shows a credential the operator handed out.
         */
        enabled: flag().default(false),
        /**
         * SHA-256 (hex) of the initial access tokens (RFC 7591 §3) the operator gave out; the
         * token itself is never stored, as for every other secret here.
         */
        initialAccessTokenHashes: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'must be SHA-256 hex')).max(100).optional(),
        /**
         * Public keys (a JWK Set) whose signed software statements (RFC 7591 §2.3) are accepted;
         * the statement's claims win over the request's, so a registrant cannot rename itself.
         */
        softwareStatementKeys: z.object({ keys: z.array(z.record(z.unknown())).min(1).max(20) }).optional(),
        /** What a self-registered client may ask for: the person-facing scopes, nothing an operator grants by hand. */
        scopes: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/).default('openid profile offline_access'),
        /**
         * OAuth Client ID Metadata Documents: a client_id that is an https URL is fetched and
         * describes the client. Off by default, since every unknown URL makes the appliance
         * fetch from the network.
         */
        clientMetadataDocuments: flag().default(false),
        /** The draft's suggestion: a client description fits in 5 KiB; more is refused unread. */
        metadataDocumentMaxBytes: z.coerce.number().int().min(512).max(65536).default(5120),
        /** Milliseconds for the whole fetch: a slow document must not hold a device's request. */
        metadataDocumentTimeout: z.coerce.number().int().min(100).max(10000).default(3000),
        /** Seconds a fetched document is reused before it is fetched again. */
        metadataDocumentCacheSeconds: z.coerce.number().int().min(0).max(86400).default(300),
        /**
         * TESTS ONLY: allow http and loopback addresses for metadata documents, so a test can
         * serve them from 127.0.0.1. Other private ranges stay refused. Never turn it on in
         * production: it lets a client id point the appliance at its own host.
         */
        unsafeAllowLoopbackForTests: flag().default(false),
      })
      .strict()
      .default({}),
    dpop: z
      .object({
        /**
         * Server nonces (RFC 9449 §8) required in every proof: a proof cannot then be made ahead
         * of time by someone who held the device's key for a moment. It costs one extra round
         * trip per nonce window, and every DPoP client library handles use_dpop_nonce.
         */
        nonceRequired: flag().default(true),
        /** A nonce is fresh for one to two windows: longer than a poll interval or a retry. */
        nonceWindow: z.coerce.number().int().min(10).max(3600).default(300),
      })
      .strict()
      .default({}),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema> & { issuer: string; verificationUri: string };

/** A bad setting: one readable line naming it (the CLI prints it and exits 2). */
export class ConfigError extends DevicegateError {
  constructor(message: string) {
    super('invalid_configuration', message);
    this.name = 'ConfigError';
  }
}

/** Environment variables, one per setting; nested push.* settings are DEVICEGATE_MQTT_* etc. */
export const environmentVariables: Record<string, string> = {
  DEVICEGATE_HOST: 'host',
  DEVICEGATE_PORT: 'port',
  DEVICEGATE_ISSUER: 'issuer',
  DEVICEGATE_DATA_DIR: 'dataDir',
  DEVICEGATE_DATABASE_URL: 'databaseUrl',
  DEVICEGATE_TRUST_PROXY: 'trustProxy',
  DEVICEGATE_LOG_LEVEL: 'logLevel',
  DEVICEGATE_SIGNING_ALG: 'signingAlg',
  DEVICEGATE_ACCESS_TOKEN_LIFETIME: 'accessTokenLifetime',
  DEVICEGATE_ID_TOKEN_LIFETIME: 'idTokenLifetime',
  DEVICEGATE_REFRESH_TOKEN_LIFETIME: 'refreshTokenLifetime',
  DEVICEGATE_GRANT_LIFETIME: 'grantLifetime',
  DEVICEGATE_DEVICE_CODE_LIFETIME: 'deviceCodeLifetime',
  DEVICEGATE_REDEMPTION_RETRY_WINDOW: 'redemptionRetryWindow',
  DEVICEGATE_REFRESH_RETRY_WINDOW: 'refreshRetryWindow',
  DEVICEGATE_POLL_INTERVAL: 'pollInterval',
  DEVICEGATE_VERIFICATION_PATH: 'verificationPath',
  DEVICEGATE_VERIFICATION_URI: 'verificationUri',
  DEVICEGATE_SESSION_LIFETIME: 'sessionLifetime',
  DEVICEGATE_MAX_BODY_BYTES: 'maxBodyBytes',
  DEVICEGATE_DRAIN_DELAY: 'drainDelay',
  DEVICEGATE_DEMO: 'demo',
  DEVICEGATE_DEMO_PASSWORD: 'demoPassword',
  DEVICEGATE_MASTER_KEY: 'masterKey',
  DEVICEGATE_WEBSOCKET: 'push.websocket',
  DEVICEGATE_MQTT_EMBEDDED: 'push.mqttEmbedded',
  DEVICEGATE_MQTT_HOST: 'push.mqttHost',
  DEVICEGATE_MQTT_PORT: 'push.mqttPort',
  DEVICEGATE_MQTT_URL: 'push.mqttUrl',
  DEVICEGATE_MQTT_USERNAME: 'push.mqttUsername',
  DEVICEGATE_MQTT_PASSWORD: 'push.mqttPassword',
  DEVICEGATE_MQTT_PUBLIC_URL: 'push.mqttPublicUrl',
  DEVICEGATE_MQTT_AUTH: 'push.mqttAuth',
  DEVICEGATE_MQTT_AUTH_WAIT: 'push.mqttAuthWait',
  DEVICEGATE_BUS: 'push.bus',
  DEVICEGATE_PUSH_MAX_CONNECTIONS: 'push.maxConnections',
  DEVICEGATE_PUSH_MAX_CONNECTIONS_PER_ADDRESS: 'push.maxConnectionsPerAddress',
  DEVICEGATE_PUSH_MAX_SUBSCRIBERS_PER_DEVICE_CODE: 'push.maxSubscribersPerDeviceCode',
  DEVICEGATE_PUSH_SUBSCRIBE_TIMEOUT: 'push.subscribeTimeout',
  DEVICEGATE_PUSH_PING_INTERVAL: 'push.pingInterval',
  DEVICEGATE_LIMITS_STORE: 'limits.store',
  DEVICEGATE_LIMITS_LOCAL_SHARE: 'limits.localShare',
  DEVICEGATE_CLIENT_ASSERTION_TOKEN_ENDPOINT_AUDIENCE: 'clientAssertionTokenEndpointAudience',
  DEVICEGATE_DPOP_NONCE_REQUIRED: 'dpop.nonceRequired',
  DEVICEGATE_DPOP_NONCE_WINDOW: 'dpop.nonceWindow',
  DEVICEGATE_LOCAL_PASSWORDS: 'signIn.localPasswords',
  DEVICEGATE_SIGN_IN_FLOW_LIFETIME: 'signIn.flowLifetime',
  DEVICEGATE_PRODUCT_NAME: 'branding.productName',
  DEVICEGATE_LOGO_URL: 'branding.logoUrl',
  DEVICEGATE_LOGO_FILE: 'branding.logoFile',
  DEVICEGATE_PRIMARY_COLOR: 'branding.primaryColor',
  DEVICEGATE_ON_PRIMARY_COLOR: 'branding.onPrimaryColor',
  DEVICEGATE_HEADER_COLOR: 'branding.headerColor',
  DEVICEGATE_REGISTRATION: 'registration.enabled',
  DEVICEGATE_CLIENT_METADATA_DOCUMENTS: 'registration.clientMetadataDocuments',
  DEVICEGATE_METRICS: 'metrics.enabled',
  DEVICEGATE_METRICS_HOST: 'metrics.host',
  DEVICEGATE_METRICS_PORT: 'metrics.port',
  DEVICEGATE_METRICS_TOKEN: 'metrics.token',
  DEVICEGATE_METRICS_ON_PUBLIC_LISTENER: 'metrics.onPublicListener',
  DEVICEGATE_WEBHOOKS_POLL_INTERVAL: 'webhooks.pollInterval',
  DEVICEGATE_WEBHOOKS_TIMEOUT: 'webhooks.timeout',
  DEVICEGATE_WEBHOOKS_RETRY_DELAY: 'webhooks.retryDelay',
  DEVICEGATE_WEBHOOKS_RETRY_MAX_DELAY: 'webhooks.retryMaxDelay',
  DEVICEGATE_WEBHOOKS_MAX_ATTEMPTS: 'webhooks.maxAttempts',
  DEVICEGATE_WEBHOOKS_LEASE: 'webhooks.lease',
};

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const [head, tail] = dotted.split('.', 2) as [string, string | undefined];
  if (tail === undefined) {
    target[head] = value;
    return;
  }
  const nested = (target[head] ??= {}) as Record<string, unknown>;
  nested[tail] = value;
}

function mergeDeep(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) continue;
    const existing = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && existing && typeof existing === 'object'
        ? mergeDeep(existing as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/**
 * Builds the validated configuration. Throws ConfigError with one readable line on bad input.
 */
export function loadConfig(
  sources: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigInput } = {},
): Config {
  let merged: Record<string, unknown> = {};
  if (sources.file) {
    let text: string;
    try {
      text = readFileSync(sources.file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read config file ${sources.file}: ${(error as Error).message}`);
    }
    try {
      merged = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new ConfigError(`config file ${sources.file} is not valid JSON`);
    }
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(environmentVariables)) {
    const raw = sources.env?.[name];
    if (raw !== undefined && raw !== '') setPath(fromEnv, key, raw);
  }
  merged = mergeDeep(mergeDeep(merged, fromEnv), (sources.overrides ?? {}) as Record<string, unknown>);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.') || 'config';
    const label = `${where} (${sourceOf(where, sources)})`;
    const given = valueAt(merged, issue.path);
    const expected = expectedForm(schemaAt(issue.path));
    // What broke and what to do: the setting, where its value came from, the form it must take
    // and the value given (zod's own "Expected number, received nan" says none of that).
    // The value is echoed only for numbers, booleans and choices: a free-form string may be a
    // secret (demoPassword, masterKey, a databaseUrl with its password), which never goes in a line.
    if (!expected) throw new ConfigError(`invalid configuration: ${label}: ${issue.message}`);
    const got = given === undefined ? '' : `, got ${JSON.stringify(String(given).slice(0, 40))}`;
    throw new ConfigError(`invalid configuration: ${label}: must be ${expected}${got}`);
  }
  const config = parsed.data;
  const issuer = (config.issuer ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`).replace(/\/+$/, '');
  const issuerUrl = new URL(issuer);
  // RFC 8628 §3.1 / RFC 6749 §3.1: TLS is required. Plain http only for loopback (development,
  // tests, or a TLS proxy on the same host).
  if (issuerUrl.protocol !== 'https:' && !(issuerUrl.protocol === 'http:' && loopbackHosts.has(issuerUrl.hostname))) {
    throw new ConfigError(`invalid configuration: issuer must be an https:// URL (http only for localhost), got ${issuer}`);
  }
  if (issuerUrl.search || issuerUrl.hash) throw new ConfigError('invalid configuration: issuer must not have a query or fragment');
  if (config.branding.logoUrl && config.branding.logoFile) throw new ConfigError('invalid configuration: branding: set logoUrl or logoFile, not both');
  const { registration } = config;
  if (registration.enabled && !registration.initialAccessTokenHashes?.length && !registration.softwareStatementKeys) {
    throw new ConfigError('invalid configuration: registration.enabled needs initialAccessTokenHashes or softwareStatementKeys (no open registration)');
  }
  if (config.metrics.onPublicListener && !config.metrics.token) {
    throw new ConfigError('invalid configuration: metrics.onPublicListener needs metrics.token (the public listener faces the internet)');
  }
  const verificationUri = (config.verificationUri ?? `${issuer}${config.verificationPath}`).replace(/(?<=[^/])\/+$/, '');
  const verificationUrl = new URL(verificationUri);
  // RFC 8628 §3.1: people type the code there, so it is as TLS-bound as the issuer.
  if (verificationUrl.protocol !== 'https:' && !(verificationUrl.protocol === 'http:' && loopbackHosts.has(verificationUrl.hostname))) {
    throw new ConfigError(`invalid configuration: verificationUri must be an https:// URL (http only for localhost), got ${verificationUri}`);
  }
  // RFC 8628 §3.3.1: verification_uri_complete adds ?user_code=, so the address carries no query.
  if (verificationUrl.search || verificationUrl.hash) throw new ConfigError('invalid configuration: verificationUri must not have a query or fragment');
  return { ...config, issuer, verificationUri, dataDir: path.resolve(config.dataDir) };
}

/** The flags of `devicegate serve` by setting, so a bad value is reported under the flag typed. */
export const commandLineFlags: Record<string, string> = {
  host: '--host',
  port: '--port',
  issuer: '--issuer',
  dataDir: '--data-dir',
  databaseUrl: '--database-url',
  logLevel: '--log-level',
  'push.mqttPort': '--mqtt-port',
  'push.mqttUrl': '--mqtt-url',
};

/** Where a setting's value came from (later sources win, so the latest that set it). */
function sourceOf(where: string, sources: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigInput }): string {
  const dotted = where.split('.');
  if (valueAt(sources.overrides ?? {}, dotted) !== undefined) return commandLineFlags[where] ? `flag ${commandLineFlags[where]}` : 'set by the caller';
  const variable = Object.entries(environmentVariables).find(([name, key]) => key === where && sources.env?.[name]);
  if (variable) return variable[0];
  if (sources.file) return `in ${sources.file}`;
  const anyVariable = Object.entries(environmentVariables).find(([, key]) => key === where);
  return anyVariable ? anyVariable[0] : 'default';
}

function valueAt(root: unknown, keys: readonly (string | number)[]): unknown {
  let value = root;
  for (const key of keys) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/** The schema of one setting, through defaults, optionals and preprocessing. */
function schemaAt(keys: readonly (string | number)[]): z.ZodTypeAny | undefined {
  let schema: z.ZodTypeAny | undefined = configSchema;
  for (const key of keys) {
    schema = unwrap(schema);
    if (!(schema instanceof z.ZodObject)) return undefined;
    schema = (schema.shape as Record<string, z.ZodTypeAny>)[key];
  }
  return schema && unwrap(schema);
}

function unwrap(schema: z.ZodTypeAny | undefined): z.ZodTypeAny | undefined {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodDefault) current = current._def.innerType;
    else if (current instanceof z.ZodOptional) current = current._def.innerType;
    else if (current instanceof z.ZodEffects) current = current._def.schema;
    else return current;
  }
}

/** A setting's expected form in words: "a whole number from 0 to 65535", "one of a, b". */
function expectedForm(schema: z.ZodTypeAny | undefined): string | undefined {
  if (schema instanceof z.ZodNumber) {
    const kind = schema.isInt ? 'a whole number' : 'a number';
    const min = schema.minValue;
    const max = schema.maxValue;
    if (min !== null && max !== null && Number.isFinite(min) && Number.isFinite(max)) return `${kind} from ${min} to ${max}`;
    if (min !== null && Number.isFinite(min)) return `${kind} of at least ${min}`;
    if (max !== null && Number.isFinite(max)) return `${kind} of at most ${max}`;
    return kind;
  }
  if (schema instanceof z.ZodBoolean) return 'true or false';
  if (schema instanceof z.ZodEnum) return `one of ${(schema.options as string[]).join(', ')}`;
  return undefined;
}
