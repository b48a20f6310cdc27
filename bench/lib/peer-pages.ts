// A person approving device codes at the peer (peer-process.ts) through its own pages, over HTTP:
// the user code page, the confirmation page, the login page and the consent page, each form read
// from the HTML and sent back as a browser would (hidden fields such as the xsrf token included),
// cookies kept per name. No browser: the pages are plain forms. Every loop is bounded.
export interface PeerEndpoints {
  jwks: string;
  deviceAuthorization: string;
  token: string;
  introspection: string;
  userinfo: string;
}

interface Form {
  action: string;
  method: string;
  fields: URLSearchParams;
}

const attribute = (tag: string, name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
const unescapeHtml = (text: string) => text.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));

/** The first form of a page with its hidden and pre-filled fields. */
function formOf(html: string, pageUrl: string): Form {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!match) throw new Error(`no form on the peer's page ${pageUrl}: ${html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 200)}`);
  const [, tag, inner] = match;
  const fields = new URLSearchParams();
  for (const input of inner!.match(/<input\b[^>]*>/gi) ?? []) {
    const name = attribute(input, 'name');
    if (name) fields.set(name, unescapeHtml(attribute(input, 'value') ?? ''));
  }
  return { action: new URL(unescapeHtml(attribute(tag!, 'action') ?? pageUrl), pageUrl).toString(), method: (attribute(tag!, 'method') ?? 'get').toLowerCase(), fields };
}

class Browser {
  readonly #cookies = new Map<string, string>();

  #keep(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...options] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      const expires = options.map((option) => /^\s*expires=(.*)$/i.exec(option)?.[1]).find(Boolean);
      if (!value || (expires && Date.parse(expires) <= Date.now())) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  /** A request and its redirects (at most 10), as a browser follows them; the final page's text. */
  async open(url: string, form?: URLSearchParams): Promise<{ url: string; status: number; html: string }> {
    let method = form ? 'POST' : 'GET';
    let body: string | undefined = form?.toString();
    let at = url;
    for (let hop = 0; hop < 10; hop++) {
      const response = await fetch(at, {
        method,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
        headers: {
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...(this.#cookies.size ? { cookie: [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ') } : {}),
        },
        body,
      });
      this.#keep(response.headers);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.arrayBuffer();
        at = new URL(location, at).toString();
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url: at, status: response.status, html: await response.text() };
    }
    throw new Error(`more than 10 redirects from ${url}`);
  }

  async submit(page: { url: string; html: string }, fill: Record<string, string> = {}): Promise<{ url: string; status: number; html: string }> {
    const form = formOf(page.html, page.url);
    for (const [name, value] of Object.entries(fill)) form.fields.set(name, value);
    return form.method === 'post' ? this.open(form.action, form.fields) : this.open(`${form.action}?${form.fields}`);
  }
}

/**
 * Approves each code at the peer's pages as one person and redeems it at the token endpoint:
 * `concurrency` browsers at a time, each signed in at its first code (its session cookie signs in
 * the rest, as at the appliance). The tokens come back in the codes' order.
 */
export async function peerTokensFor(endpoints: PeerEndpoints, clientId: string, person: { username: string; password: string }, codes: Array<{ deviceCode: string; userCode: string; verificationUri: string }>, concurrency = 4): Promise<Array<Record<string, string>>> {
  const tokens: Array<Record<string, string>> = [];
  const deadline = Date.now() + 120_000;
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, codes.length) }, async () => {
    const browser = new Browser();
    while (next < codes.length) {
      const index = next++;
      tokens[index] = await approve(browser, codes[index]!);
    }
  }));
  return tokens;

  async function approve(browser: Browser, code: { deviceCode: string; userCode: string; verificationUri: string }): Promise<Record<string, string>> {
    if (Date.now() > deadline) throw new Error(`approving ${codes.length} codes at the peer took over 120 s`);
    let page = await browser.open(code.verificationUri);
    page = await browser.submit(page, { user_code: code.userCode });
    // The confirmation page, then login (first code only) and consent, then the success page.
    for (let step = 0; step < 6 && !/Sign-in Success/.test(page.html); step++) {
      page = await browser.submit(page, /name="login"/.test(page.html) ? { login: person.username, password: person.password } : {});
    }
    if (!/Sign-in Success/.test(page.html)) throw new Error(`the peer's pages did not approve ${code.userCode}: ${page.status} ${page.html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 200)}`);
    const response = await fetch(endpoints.token, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: code.deviceCode, client_id: clientId }).toString(),
    });
    const body = (await response.json()) as Record<string, string>;
    if (response.status !== 200) throw new Error(`redeeming an approved code at the peer answered ${response.status} ${body.error}`);
    return body;
  }
}
