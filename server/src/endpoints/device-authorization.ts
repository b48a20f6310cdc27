import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { invalidRequest, invalidScope, unauthorizedClient } from '../errors.ts';
import { DEVICE_CODE_GRANT_TYPE } from '../grants/index.ts';
import { oauthParameters, parseScope } from '../http/form.ts';
import { deriveKey, hashSecret, randomSecret, timeOrderedId } from '../secrets.ts';
import { UserCodeTakenError } from '../store/types.ts';
import { formatUserCode, generateUserCode } from '../user-code.ts';
import { noStore, refuseOtherMethods } from './post-only.ts';
import { clientAndAddress, enforceLimit } from '../services/abuse-limits.ts';
import { paths } from './paths.ts';

/** device_name and device_model are shown to a person; keep them short and printable. */
const MAX_DEVICE_TEXT = 64;
function deviceText(parameters: Record<string, string>, name: string): string | null {
  const value = parameters[name];
  if (value === undefined || value === '') return null;
  if (value.length > MAX_DEVICE_TEXT) throw invalidRequest(`${name} is longer than ${MAX_DEVICE_TEXT} characters`);
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(value)) throw invalidRequest(`${name} contains control characters`);
  return value;
}

/**
 * Device authorization (RFC 8628 §3.1-3.2): the device asks, gets a device code (256 bits,
 * stored only as a hash), a user code for the person, and where to wait for the outcome.
 */
export function registerDeviceAuthorization(app: FastifyInstance, context: AppContext): void {
  const { store, clock, config, audit } = context;
  const verificationUri = `${config.issuer}${config.verificationPath}`;

  app.post(paths.deviceAuthorization, async (request, reply) => {
    const parameters = oauthParameters(request.body);
    // docs/security.md AUTHZ-LIMITED: per client and address, before any work, so no one floods the
    // code space.
    await enforceLimit(context.rateLimits, 'deviceAuthorizationPerClientAndAddress', clientAndAddress(request, parameters), { path: paths.deviceAuthorization });
    const { client } = await context.authenticateClient(request, parameters);
    if (!client.grantTypes.includes(DEVICE_CODE_GRANT_TYPE)) {
      throw unauthorizedClient('this client may not use the device authorization grant');
    }
    const requested = parseScope(parameters.scope);
    const scopes = requested && requested.length > 0 ? requested : client.scopes;
    const notAllowed = scopes.filter((scope) => !client.scopes.includes(scope));
    if (notAllowed.length > 0) throw invalidScope(`scope not allowed for this client: ${notAllowed.join(' ').slice(0, 200)}`);
    const deviceName = deviceText(parameters, 'device_name');
    const deviceModel = deviceText(parameters, 'device_model');

    const deviceCode = randomSecret();
    const deviceCodeHash = hashSecret(deviceCode);
    const now = clock.now();
    const lifetime = client.deviceCodeLifetime;
    const pushKey = deriveKey('push', deviceCodeHash);
    let userCode = '';
    // 20^8 codes against at most thousands live: a collision is rare, several in a row rarer still.
    for (let attempt = 0; ; attempt++) {
      userCode = generateUserCode();
      try {
        await store.deviceGrants.create({
          id: timeOrderedId(now),
          deviceCodeHash,
          userCode,
          clientId: client.clientId,
          scopes,
          deviceName,
          deviceModel,
          requestedFrom: request.ip,
          pushKey,
          createdAt: now,
          expiresAt: now + lifetime * 1000,
          interval: client.pollInterval,
        });
        break;
      } catch (error) {
        if (!(error instanceof UserCodeTakenError) || attempt >= 8) throw error;
      }
    }
    audit.record('device_authorized', { clientId: client.clientId, ip: request.ip });
    // Each hook bounds its own wait (push.mqttAuthWait): the device is not kept waiting long.
    await Promise.all(context.deviceAuthorizedHooks.map((hook) => hook({ pushKey, deviceCode, expiresAt: now + lifetime * 1000 })));
    const push = context.pushEndpoints(pushKey);
    // RFC 9449 §8.2 lets a server hand out a nonce on any response: given here, a DPoP device's
    // first token request already carries one, instead of meeting use_dpop_nonce and sending
    // again. That request comes when the push says "approved", so this is the round trip the
    // person waits for. A device that ignores it still gets the nonce the standard way.
    if (context.config.dpop.nonceRequired) reply.header('DPoP-Nonce', context.dpop.nonce());
    return reply.headers(noStore).send({
      device_code: deviceCode,
      user_code: formatUserCode(userCode),
      verification_uri: verificationUri,
      verification_uri_complete: `${verificationUri}?user_code=${formatUserCode(userCode)}`,
      expires_in: lifetime,
      interval: client.pollInterval,
      ...(Object.keys(push).length > 0 ? { push } : {}),
    });
  });
  refuseOtherMethods(app, paths.deviceAuthorization);
}
