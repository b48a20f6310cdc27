// A real upstream OpenID provider for the tests: panva's oidc-provider (OpenID Certified), on
// 127.0.0.1, with its own small login page so Chromium signs in there the way a person does. It
// speaks discovery, PKCE, private_key_jwt and RFC 9207's `iss` response parameter; what a test
// changes is only which accounts exist and which clients are registered.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type ClientMetadata } from 'oidc-provider';

export interface UpstreamAccount {
  /** What is typed into the provider's login form. */
  login: string;
  claims: Record<string, unknown> & { sub: string };
}

export interface UpstreamProviderOptions {
  accounts: UpstreamAccount[];
  clients: ClientMetadata[];
  /** What the login page's "Sign in" reports (OIDC Core §2): how the person authenticated. */
  amr?: string[];
  acr?: string;
  /** Put the scope claims in the ID token too (the default, as OIDC Core §5.4 says, keeps them for userinfo). */
  claimsInIdToken?: boolean;
}

export interface UpstreamProvider {
  issuer: string;
  provider: Provider;
  stop(): Promise<void>;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res: ServerResponse, title: string, body: string): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`);
}

async function formOf(req: IncomingMessage): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

/** Starts the provider on 127.0.0.1:<free port>; its issuer is http://127.0.0.1:<port>. */
export async function startUpstreamProvider(options: UpstreamProviderOptions): Promise<UpstreamProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const byLogin = new Map(options.accounts.map((account) => [account.login, account]));
  const bySub = new Map(options.accounts.map((account) => [account.claims.sub, account]));

  const provider = new Provider(issuer, {
    clients: options.clients,
    async findAccount(_ctx, sub) {
      const account = bySub.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => account.claims };
    },
    claims: {
      // Released with openid, so the ID token says how the person authenticated (OIDC Core §2).
      openid: ['sub', 'auth_time', 'acr', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    acrValues: ['urn:example:loa:1', 'urn:example:loa:2'],
    conformIdTokenClaims: !options.claimsInIdToken,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    cookies: { keys: ['upstream-provider-test-cookie-key'] },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'] },
  });
  // Loopback http is this test's whole network; oidc-provider would otherwise insist on https
  // for its cookies.
  provider.proxy = false;
  const callback = provider.callback();

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    const interaction = /^\/interaction\/([\w-]+)(\/login|\/abort)?$/.exec(url.pathname);
    if (!interaction) {
      callback(req, res);
      return;
    }
    (async () => {
      const details = await provider.interactionDetails(req, res);
      const [, uid, action] = interaction;
      if (action === '/login' && req.method === 'POST') {
        const login = (await formOf(req)).get('login') ?? '';
        const account = byLogin.get(login);
        if (!account) {
          page(res, 'Sign in to the upstream', `<p role="alert">Unknown account.</p>${loginForm(uid!)}`);
          return;
        }
        await provider.interactionFinished(req, res, { login: { accountId: account.claims.sub, amr: options.amr ?? ['pwd'], acr: options.acr ?? 'urn:example:loa:1' } }, { mergeWithLastSubmission: false });
        return;
      }
      if (action === '/abort' && req.method === 'POST') {
        await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the person cancelled' }, { mergeWithLastSubmission: false });
        return;
      }
      if (details.prompt.name === 'login') {
        page(res, 'Sign in to the upstream', loginForm(uid!));
        return;
      }
      // Consent: devicegate is a first-party client of this provider, so what it asks is granted.
      const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
      grant!.addOIDCScope(String(details.params.scope));
      const grantId = await grant!.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    })().catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });

  return {
    issuer,
    provider,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function loginForm(uid: string): string {
  return `<form method="post" action="/interaction/${uid}/login"><label for="login">Account</label><input id="login" name="login" autocomplete="off"><button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`;
}
