import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { invalidClient, invalidRequest, OAuthError } from '../errors.ts';
import { parseScope } from '../http/form.ts';
import type { AuditFields } from '../services/audit.ts';
import { createSiteApproval } from '../services/site-approval.ts';
import type { ClientRecord } from '../store/types.ts';
import { noStore } from './post-only.ts';
import { paths } from './paths.ts';

/**
 * The approval API: a product's own site approves a waiting device for a person it has signed in
 * itself, lists that person's devices and signs one out (docs/approval-api.yaml describes it,
 * examples/product-site uses it). Server to server: JSON in and out, the caller authenticated with
 * HTTP Basic as a confidential client (RFC 6749 §2.3.1), every error an RFC 6749 §5.2-shaped JSON
 * body from the one error exit (http/error-handler.ts), every call an `approval_api_called` audit
 * event. The rules are services/site-approval.ts.
 */

const subject = z.string().min(1).max(255);
const claims = z
  .object({
    name: z.string().max(256).nullable().optional(),
    email: z.string().max(320).nullable().optional(),
    email_verified: z.boolean().optional(),
  })
  .strict()
  .default({});
const approveBody = z
  .object({
    user_code: z.string().min(1).max(64),
    subject,
    claims,
    /** RFC 6749 §3.3 space-delimited; absent: everything the device asked for. */
    scope: z.string().max(4096).optional(),
    /** When the person signed in on the product's site (OIDC auth_time, seconds). */
    auth_time: z.number().int().positive().optional(),
  })
  .strict();
const codeBody = z.object({ user_code: z.string().min(1).max(64) }).strict();
const subjectParams = z.object({ subject }).strict();
const deviceParams = z.object({ subject, grant_id: z.string().min(1).max(64) }).strict();

function parse<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw invalidRequest(`${issue.path.join('.') || 'body'}: ${issue.message}`.slice(0, 200));
}

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export async function registerApprovalApi(app: FastifyInstance, context: AppContext): Promise<void> {
  const { clock, audit } = context;
  const site = createSiteApproval(context);

  /** Basic only: a site's secret is never put in a JSON body or a URL. */
  async function caller(request: FastifyRequest): Promise<ClientRecord> {
    const authorization = request.headers.authorization;
    if (typeof authorization !== 'string' || !/^basic(?:\s|$)/i.test(authorization.trim())) {
      throw invalidClient('authenticate with HTTP Basic (client_secret_basic)', true);
    }
    return (await context.authenticateClient(request, {})).client;
  }

  /** Runs one call and records it, whatever its outcome (docs/security.md API-CREDENTIAL-THEFT). */
  async function audited<T>(call: string, request: FastifyRequest, work: (fields: AuditFields) => Promise<T>): Promise<T> {
    const fields: AuditFields = { call, address: request.ip, clientId: null };
    try {
      const result = await work(fields);
      fields.outcome = 'ok';
      return result;
    } catch (error) {
      fields.outcome = error instanceof OAuthError ? error.code : 'error';
      throw error;
    } finally {
      await audit.record('approval_api_called', fields);
    }
  }

  await app.register(
    async (scope) => {
      // JSON here only; the OAuth endpoints keep accepting form bodies alone (http/form.ts).
      scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(invalidRequest('the body is not valid JSON'), undefined);
        }
      });
      scope.addHook('onSend', async (_request, reply, payload) => {
        reply.headers(noStore);
        return payload;
      });
      const jsonBody = (request: FastifyRequest) => {
        if (request.body === undefined || request.body instanceof URLSearchParams) throw invalidRequest('the body must be application/json');
        return request.body;
      };

      scope.post('/device-requests/lookup', (request) =>
        audited('lookup', request, async (fields) => {
          const client = await caller(request);
          fields.clientId = client.clientId;
          const body = parse(codeBody, jsonBody(request));
          const { deviceGrant, client: deviceClient } = await site.lookup(client, body.user_code, request.ip);
          fields.deviceGrantId = deviceGrant.id;
          return {
            client_id: deviceClient.clientId,
            client_name: deviceClient.name,
            device_name: deviceGrant.deviceName,
            device_model: deviceGrant.deviceModel,
            requested_from: deviceGrant.requestedFrom,
            scope: deviceGrant.scopes.join(' '),
            expires_at: seconds(deviceGrant.expiresAt),
          };
        }),
      );

      scope.post('/device-requests/approve', (request) =>
        audited('approve', request, async (fields) => {
          const client = await caller(request);
          fields.clientId = client.clientId;
          const body = parse(approveBody, jsonBody(request));
          const authTime = body.auth_time === undefined ? undefined : body.auth_time * 1000;
          // A sign-in in the future is a clock gone wrong or a made-up claim (OIDC Core §2, auth_time).
          if (authTime !== undefined && authTime > clock.now() + 60_000) throw invalidRequest('auth_time is in the future');
          const result = await site.approve(client, {
            userCode: body.user_code,
            subject: body.subject,
            claims: { name: body.claims.name ?? null, email: body.claims.email ?? null, emailVerified: body.claims.email_verified ?? false },
            scopes: parseScope(body.scope),
            authTime,
            address: request.ip,
          });
          Object.assign(fields, { deviceGrantId: result.deviceGrant.id, userId: result.user.id });
          return { status: 'approved', client_id: result.client.clientId, device_name: result.deviceGrant.deviceName, scope: result.grantedScopes.join(' ') };
        }),
      );

      scope.post('/device-requests/deny', (request) =>
        audited('deny', request, async (fields) => {
          const client = await caller(request);
          fields.clientId = client.clientId;
          const body = parse(codeBody, jsonBody(request));
          const result = await site.deny(client, { userCode: body.user_code, address: request.ip });
          fields.deviceGrantId = result.deviceGrant.id;
          return { status: 'denied', client_id: result.client.clientId };
        }),
      );

      scope.get('/subjects/:subject/devices', (request) =>
        audited('list_devices', request, async (fields) => {
          const client = await caller(request);
          fields.clientId = client.clientId;
          const params = parse(subjectParams, request.params);
          const devices = await site.listDevices(client, params.subject);
          fields.count = devices.length;
          return {
            devices: devices.map((device) => ({
              grant_id: device.grantId,
              client_id: device.clientId,
              client_name: device.clientName,
              device_name: device.deviceName,
              device_model: device.deviceModel,
              scope: device.scopes.join(' '),
              created_at: seconds(device.createdAt),
              last_used_at: seconds(device.lastUsedAt),
            })),
          };
        }),
      );

      scope.delete('/subjects/:subject/devices/:grant_id', (request, reply) =>
        audited('sign_out_device', request, async (fields) => {
          const client = await caller(request);
          fields.clientId = client.clientId;
          const params = parse(deviceParams, request.params);
          fields.grantId = params.grant_id;
          fields.userId = (await site.signOutDevice(client, params.subject, params.grant_id)).userId;
          return reply.code(204).send();
        }),
      );
    },
    { prefix: paths.approvalApi },
  );
}
