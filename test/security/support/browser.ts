// A minimal browser for driving the verification pages over HTTP the way a person's phone does:
// a cookie jar, form posts with the CSRF token parsed from the page, redirects followed by hand.
// Only what the security tests need; the pages' own tests drive real Chromium.

export interface PageResult {
  status: number;
  headers: Headers;
  text: string;
  /** Location of a redirect, relative to the origin. */
  location: string | null;
}

const decode = (value: string) =>
  value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** Values of the form fields a submit would send: hidden inputs and checked checkboxes. */
function formFields(html: string): URLSearchParams {
  const fields = new URLSearchParams();
  for (const match of html.matchAll(/<input\b([^>]*)>/g)) {
    const attributes = match[1]!;
    const type = /\btype="([^"]*)"/.exec(attributes)?.[1];
    const name = /\bname="([^"]*)"/.exec(attributes)?.[1];
    const value = /\bvalue="([^"]*)"/.exec(attributes)?.[1] ?? '';
    if (!name) continue;
    if (type === 'hidden' || (type === 'checkbox' && /\bchecked\b/.test(attributes))) fields.append(name, decode(value));
  }
  return fields;
}

export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly origin: string,
    /** Sent as X-Forwarded-For, to appear from this address to an appliance that trusts the proxy. */
    readonly address?: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { 'accept-language': 'en', ...extra };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (this.address) headers['x-forwarded-for'] = this.address;
    return headers;
  }

  private async keep(response: Response): Promise<PageResult> {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair, ...attributes] = cookie.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute) || /^\s*expires=Thu, 01 Jan 1970/i.test(attribute));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const location = response.headers.get('location');
    return {
      status: response.status,
      headers: response.headers,
      text: await response.text(),
      location: location ? new URL(location, this.origin).pathname + new URL(location, this.origin).search : null,
    };
  }

  async get(path: string): Promise<PageResult> {
    return this.keep(await fetch(`${this.origin}${path}`, { headers: this.headers(), redirect: 'manual', signal: AbortSignal.timeout(15_000) }));
  }

  async post(path: string, form: URLSearchParams): Promise<PageResult> {
    const response = await fetch(`${this.origin}${path}`, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/x-www-form-urlencoded' }),
      body: form.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
    return this.keep(response);
  }

  /** GETs `path`, then submits its form with the CSRF token and `values` added. */
  async submit(path: string, values: Record<string, string>, action = path): Promise<PageResult> {
    const page = await this.get(path);
    if (page.status !== 200) throw new Error(`pages: GET ${path} answered ${page.status}${page.location ? ` → ${page.location}` : ''}`);
    const form = formFields(page.text);
    for (const [name, value] of Object.entries(values)) form.set(name, value);
    return this.post(action, form);
  }
}

/**
 * A person approves a device through the pages: code, sign-in (when not yet signed in), consent.
 * Resolves true only when the pages answered with the redirect to "done" (the approval committed);
 * any other answer throws, naming the step and what came back.
 */
export async function approveThroughPages(
  browser: Browser,
  base: string,
  userCode: string,
  account: { username: string; password: string },
): Promise<true> {
  const unexpected = (step: string, result: PageResult) =>
    new Error(`pages: ${step} answered ${result.status}${result.location ? ` → ${result.location}` : ''}: ${result.text.replace(/\s+/g, ' ').slice(0, 200)}`);
  const entered = await browser.submit(base, { user_code: userCode });
  if (entered.status !== 303 || !entered.location) throw unexpected('code entry', entered);
  if (entered.location.startsWith(`${base}/sign-in`)) {
    const signedIn = await browser.submit(entered.location, { username: account.username, password: account.password, next: 'consent' }, `${base}/sign-in`);
    if (signedIn.status !== 303 || signedIn.location !== `${base}/consent`) throw unexpected('sign-in', signedIn);
  } else if (entered.location !== `${base}/consent`) {
    throw unexpected('code entry', entered);
  }
  const decided = await browser.submit(`${base}/consent`, { decision: 'approve' });
  if (decided.status !== 303 || !(decided.location ?? '').startsWith(`${base}/done`)) throw unexpected('consent', decided);
  return true;
}
