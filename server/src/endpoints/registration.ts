import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { AppContext } from '../context.ts';
import { invalidToken, OAuthError } from '../errors.ts';
import { randomId } from '../secrets.ts';
import { enforceLimit } from '../services/abuse-limits.ts';
import { invalidClientMetadata, selfRegisteredClient, type SelfDescription } from '../services/client-registration.ts';
import { noStore, refuseOtherMethods } from './post-only.ts';
import { paths } from './paths.ts';

/** Software statements are signed by a key the operator trusts; never a MAC or `none`. */
const STATEMENT_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'PS256'];

const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex');

/**
 * Dynamic client registration (RFC 7591) for public device-flow clients, under the operator's
 * policy (docs/security.md REGISTRATION-POLICY): a registrant shows an initial access token the operator
 * handed out (§3, `Authorization: Bearer`), or a software statement (§2.3) signed by a key the
 * operator allow-listed, whose claims then win over the request's. There is no open registration.
 * The client gets what services/client-registration.ts allows a self-registered client, and the
 * consent page shows it as unverified.
 */
export function registerRegistration(app: FastifyInstance, context: AppContext): void {
  const { config, store, clock, audit } = context;
  const policy = config.registration;
  if (!policy.enabled) return;
  const initialAccessTokens = (policy.initialAccessTokenHashes ?? []).map((hash) => Buffer.from(hash, 'hex'));
  const statementKeys = policy.softwareStatementKeys ? createLocalJWKSet(policy.softwareStatementKeys as Parameters<typeof createLocalJWKSet>[0]) : null;

  function initialAccessTokenValid(header: string | undefined): boolean | null {
    if (header === undefined) return null;
    const match = /^Bearer ([\x21-\x7E]{1,512})$/i.exec(header.trim());
    if (!match) return false;
    const presented = Buffer.from(sha256Hex(match[1]!), 'hex');
    return initialAccessTokens.some((known) => timingSafeEqual(known, presented));
  }

  async function verifiedStatement(statement: unknown): Promise<JWTPayload> {
    if (typeof statement !== 'string') throw new OAuthError('invalid_software_statement', 'software_statement must be a signed JWT');
    try {
      decodeJwt(statement);
    } catch {
      throw new OAuthError('invalid_software_statement', 'software_statement is not a JWT');
    }
    if (!statementKeys) throw new OAuthError('unapproved_software_statement', 'this appliance accepts no software statements');
    try {
      const { payload } = await jwtVerify(statement, statementKeys, { algorithms: STATEMENT_ALGS, currentDate: new Date(clock.now()) });
      if (typeof payload.software_id !== 'string' || payload.software_id === '') throw new OAuthError('invalid_software_statement', 'the software statement has no software_id');
      return payload;
    } catch (error) {
      if (error instanceof OAuthError) throw error;
      if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw new OAuthError('unapproved_software_statement', 'the software statement is not signed by a key this appliance trusts');
      }
      throw new OAuthError('invalid_software_statement', `the software statement is invalid: ${(error as Error).message.slice(0, 120)}`);
    }
  }

  // Registration speaks JSON (RFC 7591 §3.1), the rest of the OAuth core forms: this scope alone
  // gets a JSON parser.
  app.register(async (scope) => {
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: config.maxBodyBytes }, (_request, body, done) => {
      try {
        const parsed: unknown = JSON.parse(body as string);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        done(null, parsed);
      } catch {
        done(invalidClientMetadata('the body must be a JSON object of client metadata'), undefined);
      }
    });

    scope.post(paths.registration, async (request, reply) => {
      await enforceLimit(context.rateLimits, 'registrationPerAddress', request.ip, { path: paths.registration });
      if (!request.body || typeof request.body !== 'object' || request.body instanceof URLSearchParams) {
        throw invalidClientMetadata('the body must be application/json client metadata (RFC 7591 §3.1)');
      }
      const body = request.body as SelfDescription & { software_statement?: unknown };
      const tokenValid = initialAccessTokenValid(request.headers.authorization);
      if (tokenValid === false) throw invalidToken('the initial access token is not valid');
      let statement: JWTPayload | null = null;
      if (body.software_statement !== undefined) statement = await verifiedStatement(body.software_statement);
      if (tokenValid !== true && statement === null) {
        throw invalidToken('registration needs an initial access token (RFC 7591 §3) or an approved software_statement (§2.3)');
      }
      // RFC 7591 §2.3: values in the statement take precedence over the same ones in the request.
      const description = { ...body, ...(statement ?? {}) } as SelfDescription & { software_id?: unknown };
      const clientId = `dyn-${randomId()}`;
      const client = selfRegisteredClient(config, clock, clientId, description, 'dynamic', 'A self-registered app');
      await store.clients.put(client);
      const softwareId = typeof description.software_id === 'string' ? description.software_id : undefined;
      audit.record('client_registered', { clientId, ip: request.ip, by: statement ? 'software_statement' : 'initial_access_token', ...(softwareId ? { softwareId } : {}) });
      return reply
        .code(201)
        .headers(noStore)
        .send({
          client_id: clientId,
          client_id_issued_at: Math.floor(client.createdAt / 1000),
          client_name: client.name,
          grant_types: client.grantTypes,
          token_endpoint_auth_method: 'none',
          scope: client.scopes.join(' '),
          ...(softwareId ? { software_id: softwareId } : {}),
          ...(typeof body.software_statement === 'string' ? { software_statement: body.software_statement } : {}),
        });
    });
    refuseOtherMethods(scope, paths.registration);
  });
}
