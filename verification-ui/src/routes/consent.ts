import type { FastifyInstance, FastifyReply } from 'fastify';
import { consentPage } from '../pages/consent.ts';
import type { PageContext } from '../pages/layout.ts';
import { messagePage } from '../pages/message.ts';
import { formOf, type PagesDependencies, type Responder } from '../respond.ts';
import { originOf } from '../headers.ts';
import { grantedScopes } from '../scopes.ts';

/**
 * Step 3, consent. The device request comes from the flow cookie: the ticket the port handed this
 * browser when it typed the live user code (docs/security.md CONSENT-BOUND). The form's request id
 * only has to match it, so a tab that entered another code since cannot decide the wrong request;
 * a request id learned elsewhere decides nothing. The decision is one-time: the approval service's conditional update has exactly one winner
 * (docs/security.md CODE-ONE-DECISION); the loser is told the code can no longer be used.
 */
export function registerConsent(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { port, sessions, base } = deps;

  function noLongerUsable(reply: FastifyReply, page: PageContext, status: number): FastifyReply {
    sessions.flow.clear(reply);
    return respond.send(
      reply,
      page,
      messagePage(page, {
        title: 'consent.usedTitle',
        message: page.locale.t('consent.used'),
        kind: 'warning',
        link: { href: respond.home, label: 'consent.enterCode' },
      }),
      status,
    );
  }

  scope.get('/consent', async (request, reply) => {
    const { visitor, page } = await respond.begin(request, reply);
    if (!visitor.user) return respond.seeOther(reply, `${base}/sign-in?next=consent`);
    const flow = sessions.flow.get(request);
    if (!flow) return respond.seeOther(reply, respond.home);
    const found = await port.findPendingRequest(flow, { address: request.ip });
    if (!found) return noLongerUsable(reply, page, 410);
    // The client's own logo (RFC 7591 logo_uri, https only): its origin joins img-src on this page alone.
    const logoOrigin = originOf(found.clientLogoUri);
    if (logoOrigin) reply.header('content-security-policy', deps.contentSecurityPolicy([logoOrigin]));
    return respond.send(reply, page, consentPage(page, { request: found, personAddress: request.ip }));
  });

  scope.post('/consent', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    if (!visitor.user || !visitor.session) return respond.seeOther(reply, `${base}/sign-in?next=consent`);
    const id = form.get('request');
    const decision = form.get('decision');
    if (!id || id.length > 64 || (decision !== 'approve' && decision !== 'deny')) {
      return respond.send(reply, page, messagePage(page, { title: 'error.badRequestTitle', message: page.locale.t('error.badRequest') }), 400);
    }
    const flow = sessions.flow.get(request);
    const found = flow ? await port.findPendingRequest(flow, { address: request.ip }) : null;
    if (!flow || !found || found.id !== id) return noLongerUsable(reply, page, 410);
    // docs/security.md PHISH-SAME-NETWORK: approval is refused (the page says why); denying is not.
    if (decision === 'approve' && found.approvalRefused) {
      return respond.send(reply, page, consentPage(page, { request: found, personAddress: request.ip }), 403);
    }
    const won =
      decision === 'approve'
        ? await port.approve({
            flow,
            account: visitor.user,
            grantedScopes: grantedScopes(found.scopes, form.getAll('scope')),
            // OIDC auth_time is when the person signed in, not when they clicked Approve; amr and
            // acr say how (a password here, or what the upstream provider reported).
            session: visitor.session,
            address: request.ip,
          })
        : await port.deny({ flow, account: visitor.user });
    if (!won) return noLongerUsable(reply, page, 409);
    sessions.flow.clear(reply);
    return respond.seeOther(reply, `${base}/done?request=${encodeURIComponent(id)}`);
  });
}
