import { fetchOnceMoreOnStaleConnection, type FetchFunction } from '@devicegate/device-client';
import { parse, type HTMLElement } from 'node-html-parser';

/**
 * A phone's browser reduced to what the verification pages need, over plain HTTP: a cookie jar,
 * redirects seen one by one (so each 303 is checked), and forms read from the served HTML and
 * submitted with everything a real browser would send (hidden fields such as the CSRF token,
 * checked boxes, the pressed button). No back door: only what a person's browser can do.
 */
export interface PageResponse {
  url: URL;
  status: number;
  headers: Headers;
  text: string;
  /** Absolute URL of a redirect's Location, else null. */
  location: URL | null;
}

export interface FilledForm {
  action: URL;
  fields: URLSearchParams;
}

export interface Browser {
  get(url: URL | string): Promise<PageResponse>;
  post(url: URL | string, fields: URLSearchParams): Promise<PageResponse>;
  readonly cookies: ReadonlyMap<string, string>;
}

const REQUEST_TIMEOUT_MS = 30_000;

export function createBrowser(fetch: FetchFunction, options: { language?: string } = {}): Browser {
  const cookies = new Map<string, string>();

  function headers(extra: Record<string, string> = {}): Record<string, string> {
    const all: Record<string, string> = { 'accept-language': options.language ?? 'en', accept: 'text/html', ...extra };
    if (cookies.size > 0) all.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    return all;
  }

  async function keep(url: URL, response: Response): Promise<PageResponse> {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const name = pair.slice(0, equals).trim();
      const value = pair.slice(equals + 1).trim();
      const gone = value === '' || attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute) || /^\s*expires=thu, 01 jan 1970/i.test(attribute));
      if (gone) cookies.delete(name);
      else cookies.set(name, value);
    }
    const location = response.headers.get('location');
    return { url, status: response.status, headers: response.headers, text: await response.text(), location: location ? new URL(location, url) : null };
  }

  // A real browser sends a request once more when it met a kept-alive connection the server had
  // just closed, before any answer (Chromium and Firefox both do, POSTs included): a person never
  // sees that failure, so the simulated one must not either.
  const send = (url: URL, init: () => RequestInit) => fetchOnceMoreOnStaleConnection(fetch, url, init);

  return {
    cookies,
    async get(target) {
      const url = new URL(target);
      const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
      return keep(url, await send(url, () => ({ headers: headers(), redirect: 'manual', signal })));
    },
    async post(target, fields) {
      const url = new URL(target);
      const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
      const body = fields.toString();
      const init = (): RequestInit => ({
        method: 'POST',
        headers: headers({ 'content-type': 'application/x-www-form-urlencoded' }),
        body,
        redirect: 'manual',
        signal,
      });
      return keep(url, await send(url, init));
    },
  };
}

/**
 * The first form of `page` that `matches`, filled as a browser would submit it: hidden inputs and
 * checked (enabled) checkboxes as served, then `values` typed into named fields, then the pressed
 * submit button's name and value. Returns null when the page has no such form.
 */
export function fillForm(
  page: PageResponse,
  matches: (form: HTMLElement) => boolean,
  values: Record<string, string> = {},
  button?: { name: string; value: string },
): FilledForm | null {
  const root = parse(page.text);
  const form = root.querySelectorAll('form').find(matches);
  if (!form) return null;
  const fields = new URLSearchParams();
  for (const input of form.querySelectorAll('input')) {
    const name = input.getAttribute('name');
    if (!name || input.hasAttribute('disabled')) continue;
    const type = (input.getAttribute('type') ?? 'text').toLowerCase();
    if (type === 'checkbox' || type === 'radio') {
      if (input.hasAttribute('checked')) fields.append(name, input.getAttribute('value') ?? 'on');
    } else if (type !== 'submit' && type !== 'button' && type !== 'image') {
      fields.append(name, input.getAttribute('value') ?? '');
    }
  }
  for (const [name, value] of Object.entries(values)) fields.set(name, value);
  if (button) {
    const pressed = form.querySelectorAll('button').find((element) => element.getAttribute('name') === button.name && element.getAttribute('value') === button.value);
    if (!pressed) return null;
    fields.append(button.name, button.value);
  }
  return { action: new URL(form.getAttribute('action') ?? page.url.pathname, page.url), fields };
}

/** True when the form has an input of that name. */
export const hasInput = (name: string) => (form: HTMLElement) => form.querySelector(`input[name="${name}"]`) !== null;

/** The value of a named input in the first form that has it (e.g. the prefilled user code). */
export function inputValue(page: PageResponse, name: string): string | null {
  return parse(page.text).querySelector(`input[name="${name}"]`)?.getAttribute('value') ?? null;
}
