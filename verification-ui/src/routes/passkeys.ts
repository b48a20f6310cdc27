import { deriveKey } from '@devicegate/server/secrets';
import type { FastifyInstance } from 'fastify';
import type { SafeHtml } from '../html.ts';
import type { PageContext } from '../pages/layout.ts';
import { passkeyDevicesSection, passkeySignIn } from '../pages/passkeys.ts';
import { signInPage, type AfterSignIn } from '../pages/sign-in.ts';
import { formOf, type PagesDependencies, type Responder } from '../respond.ts';
import type { Visitor } from '../session.ts';

/** WebAuthn responses are a few kilobytes; anything much larger is not one. */
const MAX_RESPONSE_LENGTH = 12_000;

/**
 * The secret a WebAuthn challenge is bound to: derived one-way from this browser's cookie, so a
 * challenge (and the assertion signed over it) is worth nothing in another browser
 * (docs/security.md PASSKEY-REPLAY).
 */
const bindingOf = (visitor: Visitor) => deriveKey('webauthn-binding', visitor.secret);

function responseOf(form: URLSearchParams): unknown {
  const text = form.get('response') ?? '';
  if (text === '' || text.length > MAX_RESPONSE_LENGTH) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** The passkey part of the sign-in page, for the sign-in route. */
export async function passkeySignInPart(deps: PagesDependencies, page: PageContext, next: AfterSignIn): Promise<SafeHtml> {
  return passkeySignIn(page, { next, webauthnOptions: await deps.port.passkeys.authenticationOptions(bindingOf(page.visitor)) });
}

/** The passkeys section of My devices, for the devices route. */
export async function passkeyDevicesPart(deps: PagesDependencies, page: PageContext, notice: string | null): Promise<SafeHtml> {
  const account = page.visitor.user!;
  const shown = notice === 'passkey-added' ? 'added' : notice === 'passkey-removed' ? 'removed' : notice === 'passkey-failed' ? 'failed' : undefined;
  return passkeyDevicesSection(page, {
    passkeys: await deps.port.passkeys.list(account),
    webauthnOptions: await deps.port.passkeys.registrationOptions(account, bindingOf(page.visitor)),
    notice: shown,
  });
}

/**
 * Passkeys: sign in with one (instead of a password, behind the same per-address limit), add one
 * to the signed-in account from My devices, remove one. Every POST carries the CSRF token.
 */
export function registerPasskeys(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { port, sessions, base } = deps;

  scope.post('/passkeys/sign-in', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    const next: AfterSignIn = form.get('next') === 'consent' ? 'consent' : 'devices';
    const result = await port.passkeys.signIn({ binding: bindingOf(visitor), response: responseOf(form), address: request.ip });
    if (result.kind === 'signed_in') {
      sessions.knownBrowser.set(reply, result.knownBrowser);
      // RFC 8176 §2: proof of possession of a key, with user verification.
      await sessions.signIn(reply, visitor, result.account, { authTime: port.now(), amr: ['pop', 'user'], acr: null });
      return respond.seeOther(reply, `${base}/${next === 'consent' && sessions.flow.get(request) ? 'consent' : 'devices'}`);
    }
    let error = page.locale.t('passkey.failed');
    let status = 401;
    if (result.kind === 'throttled') {
      reply.header('retry-after', String(result.retryAfterSeconds));
      error = page.locale.t('signIn.tooMany', { when: page.locale.relativeTime(page.now + result.retryAfterSeconds * 1000, page.now) });
      status = 429;
    }
    return respond.send(reply, page, signInPage(page, { next, providers: port.settings.providers, localPasswords: port.settings.localPasswords, error, extra: await passkeySignInPart(deps, page, next) }), status);
  });

  scope.post('/passkeys/register', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    if (!visitor.user) return respond.seeOther(reply, `${base}/sign-in?next=devices`);
    const added = await port.passkeys.register(visitor.user, bindingOf(visitor), responseOf(form));
    return respond.seeOther(reply, `${base}/devices?notice=${added ? 'passkey-added' : 'passkey-failed'}`);
  });

  scope.post('/passkeys/remove', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    if (!visitor.user) return respond.seeOther(reply, `${base}/sign-in?next=devices`);
    const id = form.get('passkey') ?? '';
    const removed = id.length > 0 && id.length <= 1024 && (await port.passkeys.remove(visitor.user, id));
    return respond.seeOther(reply, `${base}/devices${removed ? '?notice=passkey-removed' : ''}`);
  });
}
