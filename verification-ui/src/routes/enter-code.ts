import { formatUserCode, normalizeUserCode } from '@devicegate/server/user-code';
import type { FastifyInstance } from 'fastify';
import { enterCodePage } from '../pages/enter-code.ts';
import { formOf, queryValue, type PagesDependencies, type Responder } from '../respond.ts';

/**
 * Step 1, the code. GET shows the form (filled in from verification_uri_complete's `user_code`,
 * still to be confirmed: RFC 8628 §5.4); POST checks the code and moves on to sign-in or consent.
 */
export function registerEnterCode(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { port, sessions, base } = deps;

  scope.get('/', async (request, reply) => {
    const { page } = await respond.begin(request, reply);
    const fromLink = queryValue(request, 'user_code', 64);
    const normalized = fromLink ? normalizeUserCode(fromLink) : null;
    return respond.send(
      reply,
      page,
      enterCodePage(page, {
        value: normalized ? formatUserCode(normalized) : (fromLink ?? ''),
        prefilled: fromLink !== null && fromLink !== '',
        info: queryValue(request, 'notice') === 'signed-out' ? page.locale.t('notice.signedOut') : undefined,
      }),
    );
  });

  scope.post('/', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    const typed = (form.get('user_code') ?? '').slice(0, 64);

    if (typed.trim() === '') return respond.send(reply, page, enterCodePage(page, { error: page.locale.t('code.empty') }), 400);

    // RFC 8628 §5.1: guesses are limited per address and per browser session (and tightened while
    // the global guess alarm is up) before the code is looked up, on the server's side of the port.
    const lookup = await port.enterUserCode(typed, { address: request.ip, sessionKey: visitor.limitKey });
    if (lookup.kind === 'throttled') {
      reply.header('retry-after', String(lookup.retryAfterSeconds));
      const when = page.locale.relativeTime(page.now + lookup.retryAfterSeconds * 1000, page.now);
      return respond.send(reply, page, enterCodePage(page, { value: typed, error: page.locale.t('code.tooMany', { when }) }), 429);
    }
    if (lookup.kind === 'not_found') {
      // One message for unknown, used and expired codes: no oracle for which codes exist
      // (docs/security.md CODE-NO-ORACLE). The lookup recorded the miss with the address only,
      // never the code.
      return respond.send(reply, page, enterCodePage(page, { value: typed, error: page.locale.t('code.invalid') }), 400);
    }
    const { request: found } = lookup;
    sessions.flow.set(reply, lookup.flow, (found.expiresAt - port.now()) / 1000);
    return respond.seeOther(reply, visitor.user ? `${base}/consent` : `${base}/sign-in?next=consent`);
  });
}
