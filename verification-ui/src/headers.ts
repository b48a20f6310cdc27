/**
 * Headers of every page. The CSP allows nothing inline and nothing from elsewhere: scripts and
 * styles only from this origin, forms only to it, no framing (clickjacking a consent button),
 * no <base> tricks. Pages that show a user code must not be cached (a shared computer's back
 * button, a proxy); the simplest rule that cannot be forgotten is "no page is cached".
 */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy();

/**
 * The policy with exactly the origins configuration names and nothing wider: `images`, the https
 * origins of a configured logo or provider icon (or a client's logo on its consent page);
 * `formTargets`, the origins of the upstream providers' authorization endpoints, since a form's
 * redirect to them is checked against form-action (CSP Level 3 §6.3.1.1). Scripts and styles
 * never get another source: colours come from a generated stylesheet served by this origin.
 */
export function contentSecurityPolicy(extra: { images?: Iterable<string>; formTargets?: Iterable<string> } = {}): string {
  const images = [...new Set(extra.images ?? [])];
  const formTargets = [...new Set(extra.formTargets ?? [])];
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    ["img-src 'self' data:", ...images].join(' '),
    ["form-action 'self'", ...formTargets].join(' '),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** The origin of an http(s) URL, for a CSP source list; null for data: and relative URLs. */
export function originOf(url: string | null | undefined): string | null {
  if (!url || !/^https?:\/\//.test(url)) return null;
  return new URL(url).origin;
}

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

export const NO_STORE: Readonly<Record<string, string>> = { 'cache-control': 'no-store', pragma: 'no-cache' };
