import type { FetchFunction } from '@devicegate/device-client';
import { createBrowser, fillForm, hasInput, inputValue, type Browser, type PageResponse } from './browser.ts';

export interface PersonAccount {
  username: string;
  password: string;
}

export type Decision = 'approve' | 'deny';

/** What a person sees on a device's screen and what they decide to do about it. */
export interface DecisionTask {
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  decision: Decision;
  /** Scanned the QR code (verification_uri_complete) instead of typing the code. */
  viaQr: boolean;
  /** Time spent reading the consent page before pressing the button (a slow reader). */
  readMs: number;
  /** Types the code in lower case without its dash, as people do; the pages normalize it. */
  sloppy?: boolean;
}

export interface DecisionTiming {
  /** performance.now() when the Approve/Deny button was pressed (the consent POST was sent). */
  clickedAt: number;
  /** performance.now() when the "done" page had loaded. */
  doneAt: number;
  signedIn: boolean;
}

export type PersonErrorKind =
  | 'page_5xx'
  | 'page_rate_limited'
  | 'code_rejected'
  | 'qr_code_mismatch'
  | 'sign_in_failed'
  | 'consent_refused'
  | 'unexpected_page';

/** A step of the pages did not go as a person would expect. */
export class PersonError extends Error {
  constructor(
    readonly kind: PersonErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PersonError';
  }
}

function expect(page: PageResponse, status: number, kind: PersonErrorKind, what: string): void {
  if (page.status === status) return;
  const path = page.url.pathname;
  if (page.status >= 500) throw new PersonError('page_5xx', `${what}: ${path} answered ${page.status}`, page.status);
  if (page.status === 429) throw new PersonError('page_rate_limited', `${what}: ${path} answered 429 (retry-after ${page.headers.get('retry-after') ?? '?'})`, 429);
  throw new PersonError(kind, `${what}: ${path} answered ${page.status}, expected ${status}`, page.status);
}

export interface Person {
  readonly username: string;
  /** Enters the code, signs in if needed, reads, decides; resolves when the "done" page shows. */
  decide(task: DecisionTask): Promise<DecisionTiming>;
}

/**
 * One person with one phone: a browser that stays signed in between devices, as a person who
 * approves their TV and then their translator would. Everything goes through the real pages:
 * the code form (or the QR link, whose prefilled code they compare with the device's, RFC 8628
 * §5.4), the sign-in form, the consent form with its CSRF token and scope boxes, the done page.
 */
export function createPerson(
  account: PersonAccount,
  dependencies: { fetch: FetchFunction; sleep: (ms: number) => Promise<void>; now?: () => number },
): Person {
  const browser: Browser = createBrowser(dependencies.fetch);
  const now = dependencies.now ?? (() => performance.now());

  async function signIn(at: URL): Promise<PageResponse> {
    const page = await browser.get(at);
    expect(page, 200, 'unexpected_page', 'sign-in page');
    const form = fillForm(page, hasInput('password'), { username: account.username, password: account.password });
    if (!form) throw new PersonError('unexpected_page', 'the sign-in page has no sign-in form');
    const answer = await browser.post(form.action, form.fields);
    expect(answer, 303, 'sign_in_failed', `sign-in as ${account.username}`);
    return answer;
  }

  return {
    username: account.username,
    async decide(task) {
      const start = new URL(task.viaQr && task.verificationUriComplete ? task.verificationUriComplete : task.verificationUri);
      const codePage = await browser.get(start);
      expect(codePage, 200, 'unexpected_page', 'code page');
      if (task.viaQr && task.verificationUriComplete) {
        const shown = inputValue(codePage, 'user_code');
        if (shown !== task.userCode) throw new PersonError('qr_code_mismatch', `the page shows code ${shown ?? '(none)'}, the device ${task.userCode}`);
      }
      const typed: Record<string, string> = task.viaQr ? {} : { user_code: task.sloppy ? task.userCode.toLowerCase().replace(/-/g, '') : task.userCode };
      const codeForm = fillForm(codePage, hasInput('user_code'), typed);
      if (!codeForm) throw new PersonError('unexpected_page', 'the code page has no code form');
      let next = await browser.post(codeForm.action, codeForm.fields);
      expect(next, 303, 'code_rejected', `code ${task.userCode}`);
      let signedIn = false;
      if (next.location?.pathname.endsWith('/sign-in')) {
        next = await signIn(next.location);
        signedIn = true;
      }
      if (!next.location?.pathname.endsWith('/consent')) {
        throw new PersonError('unexpected_page', `after the code, sent to ${next.location?.pathname ?? '(nowhere)'} instead of consent`);
      }
      const consent = await browser.get(next.location);
      expect(consent, 200, 'consent_refused', 'consent page');
      if (task.readMs > 0) await dependencies.sleep(task.readMs);
      const form = fillForm(consent, hasInput('request'), {}, { name: 'decision', value: task.decision });
      if (!form) throw new PersonError('unexpected_page', `the consent page has no ${task.decision} button`);
      const clickedAt = now();
      const decided = await browser.post(form.action, form.fields);
      expect(decided, 303, 'consent_refused', task.decision);
      if (!decided.location?.pathname.endsWith('/done')) {
        throw new PersonError('unexpected_page', `after ${task.decision}, sent to ${decided.location?.pathname ?? '(nowhere)'}`);
      }
      const done = await browser.get(decided.location);
      expect(done, 200, 'unexpected_page', 'done page');
      return { clickedAt, doneAt: now(), signedIn };
    },
  };
}
