import type { PushEndpoints } from '@devicegate/protocol';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { formatUserCode } from '../device-grants/user-code.ts';
import { invalidRequest, invalidScope, OAuthError, unauthorizedClient } from '../errors.ts';
import { DEVICE_CODE_GRANT_TYPE } from '../grants/index.ts';
import { admitOrigin } from '../http/cors.ts';
import { oauthParameters, parameterValues, parseScope } from '../http/form.ts';
import type { ApplianceModule } from '../modules.ts';
import { noStore, refuseOtherMethods } from './post-only.ts';
import { clientAndAddress, enforceLimit } from '../services/abuse-limits.ts';
import { looksLikeInstructions, networkAllowed } from '../services/phishing-controls.ts';
import { currentTraceParent } from '../observability/tracing.ts';
import { paths } from './paths.ts';
import { registeredResources } from '../tokens/resource-indicators.ts';
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
 * stored only as a hash), a user code for the person, and where to wait for the outcome: each
 * push channel among `modules` adds its part of `push` and may act on the new grant first.
 */
export function registerDeviceAuthorization(app: FastifyInstance, context: AppContext, modules: readonly ApplianceModule[]): void {
  const { config, audit } = context;
  // RFC 8628 §3.2: what the person opens; config.verificationUri (a short address, or the pages).
  const verificationUri = config.verificationUri;
  const channels = modules.filter((module) => module.pushEndpoints);
  const hooks = modules.filter((module) => module.onDeviceAuthorized);

  app.post(paths.deviceAuthorization, async (request, reply) => {
    const parameters = oauthParameters(request.body);
    // docs/security.md AUTHZ-LIMITED: per client and address, before any work, so no one floods the
    // code space.
    await enforceLimit(context.rateLimits, 'deviceAuthorizationPerClientAndAddress', clientAndAddress(request, parameters), { path: paths.deviceAuthorization });
    const { client } = await context.authenticateClient(request, parameters);
    // docs/security.md CORS-ORIGIN: a browser origin the client does not list changes nothing.
    admitOrigin(request, reply, client);
    if (!client.grantTypes.includes(DEVICE_CODE_GRANT_TYPE)) {
      throw unauthorizedClient('this client may not use the device authorization grant');
    }
    const requested = parseScope(parameters.scope);
    const scopes = requested && requested.length > 0 ? requested : client.scopes;
    const notAllowed = scopes.filter((scope) => !client.scopes.includes(scope));
    if (notAllowed.length > 0) throw invalidScope(`scope not allowed for this client: ${notAllowed.join(' ').slice(0, 200)}`);
    const deviceName = deviceText(parameters, 'device_name');
    const deviceModel = deviceText(parameters, 'device_model');
    // RFC 8707 §2: the APIs the device will call; the person sees them on the consent page, and
    // no token of this grant will ever reach any other.
    const resources = await registeredResources(context.store, parameterValues(request.body, 'resource'));

    // Cross-device phishing controls of this client (RFC 10027 §6; docs/security.md PHISH-*).
    const { phishing } = client;
    // PHISH-NETWORKS: a code is only given to devices on the operator's networks, so a phisher
    // elsewhere gets no code to relay.
    if (!networkAllowed(request.ip, phishing.allowedNetworks)) {
      audit.record('device_authorization_refused', { clientId: client.clientId, ip: request.ip, reason: 'network' });
      throw new OAuthError('access_denied', 'device authorization is not allowed from this network', 403);
    }
    // PHISH-DEVICE-NAME: the name is text the person reads; one that reads like instructions is
    // the phisher talking. Refused here when the client says so; else the pages neutralise it.
    for (const text of [deviceName, deviceModel]) {
      if (phishing.deviceNameFilter === 'refuse' && text !== null && looksLikeInstructions(text)) {
        audit.record('device_authorization_refused', { clientId: client.clientId, ip: request.ip, reason: 'device_name' });
        throw invalidRequest('device_name and device_model must name the device, not address the person');
      }
    }
    // PHISH-REGISTERED: only a device holding a key the operator enrolled gets a code; it proves
    // the key with a DPoP proof for this endpoint (RFC 9449 §4, with the server nonce).
    if (phishing.registeredDevicesOnly) {
      const proof = await context.dpop.verifyTokenRequest(request, paths.deviceAuthorization);
      const enrolled = proof ? await context.store.registeredDevices.find(client.clientId, proof.jkt) : null;
      if (!enrolled) {
        audit.record('device_authorization_refused', { clientId: client.clientId, ip: request.ip, reason: proof ? 'unregistered_key' : 'no_proof' });
        throw unauthorizedClient('this client serves registered devices only: send a DPoP proof made with the key the operator enrolled');
      }
    }

    // The sign-in's trace: approval and redemption join it from the grant (observability/tracing.ts).
    const traceParent = context.tracing ? currentTraceParent() : undefined;
    const device = await context.authorizeDevice({ client, scopes, deviceName, deviceModel, requestedFrom: request.ip, resources, traceParent });
    audit.record('device_authorized', { clientId: client.clientId, ip: request.ip });
    context.metrics.deviceAuthorized(client.clientId);
    const grant = { pushKey: device.pushKey, deviceCode: device.deviceCode, expiresAt: device.expiresAt };
    await Promise.all(hooks.map((module) => module.onDeviceAuthorized!(grant)));
    const push: PushEndpoints = Object.assign({}, ...channels.map((module) => module.pushEndpoints!(device.pushKey)));
    // RFC 9449 §8.2 lets a server hand out a nonce on any response: given here, a DPoP device's
    // first token request already carries one, instead of meeting use_dpop_nonce and sending
    // again. That request comes when the push says "approved", so this is the round trip the
    // person waits for. A device that ignores it still gets the nonce the standard way.
    if (context.config.dpop.nonceRequired) reply.header('DPoP-Nonce', context.dpop.nonce());
    return reply.headers(noStore).send({
      device_code: device.deviceCode,
      user_code: formatUserCode(device.userCode),
      verification_uri: verificationUri,
      verification_uri_complete: `${verificationUri}?user_code=${formatUserCode(device.userCode)}`,
      expires_in: device.lifetime,
      interval: device.interval,
      ...(Object.keys(push).length > 0 ? { push } : {}),
    });
  });
  refuseOtherMethods(app, paths.deviceAuthorization, 'POST, OPTIONS');
}
