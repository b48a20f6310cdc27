import { randomInt } from 'node:crypto';
import { createBrowser, fillForm, hasInput } from '../people/browser.ts';
import type { AttackOutcome, AttackTools } from './types.ts';

/** The appliance's user code alphabet (RFC 8628 §6.1: no vowels, no look-alikes). */
const ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
/** Bounded: the guesser gives up after this many guesses if nothing stops it. */
const MAX_GUESSES = 60;

function randomCode(): string {
  let code = '';
  for (let index = 0; index < 8; index++) code += ALPHABET[randomInt(ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * A user-code guesser on the verification pages (RFC 8628 §5.1): random codes from one browser
 * session until something stops it, then a fresh session from the same address (dodging the
 * per-session limit). Holds when the guesses were throttled with 429 before MAX_GUESSES, none was
 * accepted, and the fresh session was throttled at once too (the per-address limit).
 */
export async function guesser({ fetch, client }: AttackTools): Promise<AttackOutcome> {
  // Where the pages are, as any device would be told it (and shows on its screen).
  const home = (await client.deviceAuthorization('openid')).verificationUri;
  const browser = createBrowser(fetch);
  let page = await browser.get(home);
  let guesses = 0;
  let accepted = 0;
  let throttledAfter: number | null = null;
  let retryAfter: string | null = null;
  while (guesses < MAX_GUESSES) {
    const form = fillForm(page, hasInput('user_code'), { user_code: randomCode() });
    if (!form) throw new Error(`the code page has no code form (status ${page.status})`);
    const answer = await browser.post(form.action, form.fields);
    guesses++;
    if (answer.status === 429) {
      throttledAfter = guesses;
      retryAfter = answer.headers.get('retry-after');
      break;
    }
    if (answer.status === 303) {
      accepted++;
      page = await browser.get(home);
    } else {
      page = answer;
    }
  }
  const fresh = createBrowser(fetch);
  const freshPage = await fresh.get(home);
  const freshForm = fillForm(freshPage, hasInput('user_code'), { user_code: randomCode() });
  const freshAnswer = freshForm ? await fresh.post(freshForm.action, freshForm.fields) : null;
  const freshThrottled = freshAnswer?.status === 429;
  return {
    held: throttledAfter !== null && accepted === 0 && freshThrottled,
    summary:
      throttledAfter === null
        ? `${guesses} guesses, never throttled`
        : `throttled (429, retry after ${retryAfter ?? '?'} s) at guess ${throttledAfter}; a fresh session from the same address ${freshThrottled ? 'was throttled too' : `got ${freshAnswer?.status ?? 'no form'}`}`,
    details: { guesses, accepted, throttledAfter, retryAfter, freshSessionStatus: freshAnswer?.status ?? null },
  };
}

