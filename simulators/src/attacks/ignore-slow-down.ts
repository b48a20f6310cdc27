import type { AttackOutcome, AttackTools } from './types.ts';
import { errorOf, GRANT_DEVICE_CODE } from './oauth.ts';
import { tally } from './replay-device-code.ts';

/** Bounded: 20 polls, 50 ms apart (about one second of hammering). */
const POLLS = 20;
const GAP_MS = 50;

/**
 * A client that polls far faster than `interval` and ignores slow_down. RFC 8628 §3.5: every poll
 * too soon is answered slow_down and the interval grows by 5 s for good. Holds when every poll
 * after the first was refused (slow_down, or 429 from the address limit) and the interval the
 * appliance names grew.
 */
export async function ignoreSlowDown({ client }: AttackTools): Promise<AttackOutcome> {
  const authorization = await client.deviceAuthorization('openid');
  const answers: string[] = [];
  const intervals: number[] = [];
  let tokens = 0;
  for (let poll = 0; poll < POLLS; poll++) {
    if (poll > 0) await new Promise((resolve) => setTimeout(resolve, GAP_MS));
    const answer = await client.token({ grant_type: GRANT_DEVICE_CODE, device_code: authorization.deviceCode });
    if (answer.status === 200) tokens++;
    answers.push(answer.status === 429 ? 'http_429' : errorOf(answer));
    if (typeof answer.body.interval === 'number') intervals.push(answer.body.interval);
  }
  const afterFirst = answers.slice(1);
  const refused = afterFirst.every((answer) => answer === 'slow_down' || answer === 'http_429');
  const lastInterval = intervals.length ? intervals[intervals.length - 1]! : authorization.interval;
  const grew = lastInterval >= authorization.interval + 5;
  return {
    held: tokens === 0 && refused && grew,
    summary: `${POLLS} polls ${GAP_MS} ms apart: ${Object.entries(tally(afterFirst)).map(([name, count]) => `${count}× ${name}`).join(', ')} after the first; interval ${authorization.interval} s → ${lastInterval} s`,
    details: { polls: POLLS, gapMs: GAP_MS, answers: tally(answers), initialInterval: authorization.interval, finalInterval: lastInterval },
  };
}
