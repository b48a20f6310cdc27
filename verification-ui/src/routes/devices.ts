import type { FastifyInstance } from 'fastify';
import { devicesPage } from '../pages/devices.ts';
import { messagePage } from '../pages/message.ts';
import { formOf, queryValue, type PagesDependencies, type Responder } from '../respond.ts';
import { passkeyDevicesPart } from './passkeys.ts';

/**
 * My devices: the live grants of the signed-in account, and signing one out, which revokes the
 * whole token family (its refresh tokens and access tokens) at once.
 */
export function registerDevices(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { port, sessions, base } = deps;

  scope.get('/devices', async (request, reply) => {
    const { visitor, page } = await respond.begin(request, reply);
    if (!visitor.user) return respond.seeOther(reply, `${base}/sign-in?next=devices`);
    const devices = await port.listDevices(visitor.user);
    const notice = queryValue(request, 'notice');
    const extra = await passkeyDevicesPart(deps, page, notice);
    return respond.send(reply, page, devicesPage(page, { devices, signedOut: notice === 'signed-out', extra }));
  });

  scope.post('/devices/sign-out', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    if (!visitor.user) return respond.seeOther(reply, `${base}/sign-in?next=devices`);
    const grantId = form.get('grant');
    const signedOut = grantId !== null && grantId.length <= 64 && (await port.signOutDevice(visitor.user, grantId));
    // Someone else's grant looks exactly like no grant.
    if (!signedOut) {
      return respond.send(reply, page, messagePage(page, { title: 'error.notFoundTitle', message: page.locale.t('error.notFound'), link: { href: `${base}/devices`, label: 'layout.myDevices' } }), 404);
    }
    return respond.seeOther(reply, `${base}/devices?notice=signed-out`);
  });
}
