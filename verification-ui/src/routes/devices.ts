import type { ClientRecord } from '@devicegate/server';
import type { FastifyInstance } from 'fastify';
import { devicesPage } from '../pages/devices.ts';
import { messagePage } from '../pages/message.ts';
import { formOf, queryValue, type PagesDependencies, type Responder } from '../respond.ts';

/**
 * My devices: the live grants of the signed-in account, and signing one out, which revokes the
 * whole token family (its refresh tokens and access tokens) in one store call.
 */
export function registerDevices(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { context, sessions, base } = deps;
  const { store, clock, audit } = context;

  scope.get('/devices', async (request, reply) => {
    const { visitor, page } = await respond.begin(request, reply);
    if (!visitor.user) return respond.seeOther(reply, `${base}/sign-in?next=devices`);
    const now = clock.now();
    const grants = (await store.grants.listByUser(visitor.user.id))
      .filter((grant) => grant.revokedAt === null && grant.expiresAt > now)
      .sort((a, b) => b.createdAt - a.createdAt);
    const clients = new Map<string, ClientRecord>();
    for (const clientId of new Set(grants.map((grant) => grant.clientId))) {
      const client = await store.clients.get(clientId);
      if (client) clients.set(clientId, client);
    }
    return respond.send(reply, page, devicesPage(page, { grants, clients, signedOut: queryValue(request, 'notice') === 'signed-out' }));
  });

  scope.post('/devices/sign-out', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    if (!visitor.user) return respond.seeOther(reply, `${base}/sign-in?next=devices`);
    const grantId = form.get('grant');
    const grant = grantId && grantId.length <= 64 ? await store.grants.get(grantId) : null;
    // Someone else's grant looks exactly like no grant.
    if (!grant || grant.userId !== visitor.user.id) {
      return respond.send(reply, page, messagePage(page, { title: 'error.notFoundTitle', message: page.locale.t('error.notFound'), link: { href: `${base}/devices`, label: 'layout.myDevices' } }), 404);
    }
    if (await store.grants.revoke(grant.id, clock.now(), 'signed out by the user')) {
      audit.record('grant_revoked', { grantId: grant.id, clientId: grant.clientId, userId: visitor.user.id, by: 'user' });
    }
    return respond.seeOther(reply, `${base}/devices?notice=signed-out`);
  });
}
