import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { DPOP_SIGNING_ALGS } from '../dpop/proof.ts';
import { grants } from '../grants/index.ts';
import { CLIENT_ASSERTION_SIGNING_ALGS } from '../http/client-assertion.ts';
import { enforceLimit } from '../services/abuse-limits.ts';
import { paths } from './paths.ts';

/** Claims a token may carry, by scope (advertised in discovery). */
export const SUPPORTED_CLAIMS = ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'preferred_username', 'name', 'email', 'email_verified'];
export const SUPPORTED_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

/**
 * Metadata for OIDC Discovery and RFC 8414, the same document at both well-known paths; the issuer
 * equals the base of the well-known URL exactly (RFC 8414 §3.3; docs/security.md META-ISSUER).
 * Extra members from other modules (push endpoints, DPoP) are merged in through `extraMetadata`.
 */
export function buildMetadata(context: AppContext, extraMetadata: () => Record<string, unknown>): Record<string, unknown> {
  const { issuer } = context.config;
  const authMethods = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'];
  return {
    issuer,
    device_authorization_endpoint: `${issuer}${paths.deviceAuthorization}`,
    token_endpoint: `${issuer}${paths.token}`,
    revocation_endpoint: `${issuer}${paths.revocation}`,
    introspection_endpoint: `${issuer}${paths.introspection}`,
    userinfo_endpoint: `${issuer}${paths.userinfo}`,
    jwks_uri: `${issuer}${paths.jwks}`,
    grant_types_supported: grants.map((grant) => grant.type),
    // No authorization endpoint: devicegate offers no redirect-based flow (no implicit, no ROPC).
    response_types_supported: [],
    scopes_supported: SUPPORTED_SCOPES,
    claims_supported: SUPPORTED_CLAIMS,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [context.config.signingAlg],
    token_endpoint_auth_methods_supported: authMethods,
    // RFC 8414 §2: private_key_jwt (RFC 7523) assertions, asymmetric algorithms only.
    token_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_SIGNING_ALGS,
    revocation_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_SIGNING_ALGS,
    introspection_endpoint_auth_methods_supported: authMethods.filter((method) => method !== 'none'),
    introspection_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_SIGNING_ALGS,
    // RFC 9449 §5.1 (docs/security.md META-DPOP).
    dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
    service_documentation: `${issuer}${context.config.verificationPath}`,
    // RFC 7591 §3 and client id metadata documents: advertised only when the operator turned them on.
    ...(context.config.registration.enabled ? { registration_endpoint: `${issuer}${paths.registration}` } : {}),
    ...(context.config.registration.clientMetadataDocuments ? { client_id_metadata_document_supported: true } : {}),
    ...extraMetadata(),
  };
}

export function registerDiscovery(app: FastifyInstance, context: AppContext, extraMetadata: () => Record<string, unknown>): void {
  const handler = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    await enforceLimit(context.rateLimits, 'metadataPerAddress', request.ip);
    reply.header('cache-control', 'public, max-age=300');
    const metadata = buildMetadata(context, extraMetadata);
    // What ID tokens are really signed with: after signingAlg changes on an existing key set,
    // the published keys (current, next, retired) keep their own algorithm for up to two
    // rotations, and clients refuse an ID token whose alg discovery does not list.
    const published = (await context.keys.jwks()).keys.map((key) => key.alg).filter((alg): alg is string => typeof alg === 'string');
    metadata.id_token_signing_alg_values_supported = [...new Set([context.config.signingAlg, ...published])];
    return metadata;
  };
  app.get(paths.openidConfiguration, handler);
  app.get(paths.authorizationServerMetadata, handler);
}

export function registerJwks(app: FastifyInstance, context: AppContext): void {
  app.get(paths.jwks, async (request, reply) => {
    await enforceLimit(context.rateLimits, 'metadataPerAddress', request.ip);
    // Short cache: a rotation publishes the next key well before it signs.
    reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json');
    return context.keys.jwks();
  });
}
