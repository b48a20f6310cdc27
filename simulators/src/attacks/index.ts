import type { FetchFunction } from '@devicegate/device-client';
import { createHttpStats, count5xx, countingFetch } from '../http.ts';
import { createPerson, type PersonAccount } from '../people/person.ts';
import { guesser } from './guesser.ts';
import { ignoreSlowDown } from './ignore-slow-down.ts';
import { createRawClient } from './oauth.ts';
import { replayDeviceCode } from './replay-device-code.ts';
import { reuseRefreshToken } from './reuse-refresh-token.ts';
import type { AttackContext, AttackName, AttackOutcome, AttackResult, AttackTools } from './types.ts';
import { ATTACK_NAMES } from './types.ts';

export { ATTACK_NAMES, type AttackContext, type AttackName, type AttackOutcome, type AttackResult, type AttackTools } from './types.ts';

/**
 * Attack scenarios: each plays an attacker against the running appliance and reports whether the
 * defence held. They run in this order whatever order they were asked in: the guesser last,
 * because it spends this address's budget of code entries, which the others need to approve.
 */
const ATTACKS: Record<AttackName, (tools: AttackTools) => Promise<AttackOutcome>> = {
  'replay-device-code': replayDeviceCode,
  'reuse-refresh-token': reuseRefreshToken,
  'ignore-slow-down': ignoreSlowDown,
  guesser,
};

export function parseAttacks(text: string): AttackName[] {
  const names = text.split(',').map((name) => name.trim()).filter(Boolean);
  if (names.includes('all')) return [...ATTACK_NAMES];
  for (const name of names) {
    if (!(ATTACK_NAMES as readonly string[]).includes(name)) throw new Error(`unknown attack "${name}" (known: ${ATTACK_NAMES.join(', ')}, all)`);
  }
  return ATTACK_NAMES.filter((name) => names.includes(name));
}

export async function runAttacks(names: readonly AttackName[], context: AttackContext): Promise<AttackResult[]> {
  const results: AttackResult[] = [];
  for (const name of ATTACK_NAMES.filter((candidate) => names.includes(candidate))) {
    const stats = createHttpStats();
    const fetch = countingFetch(stats, context.fetch);
    const person = createPerson(context.person, { fetch, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });
    try {
      const client = await createRawClient(context.issuer, context.clientId, fetch);
      const outcome = await ATTACKS[name]({
        issuer: context.issuer,
        fetch,
        client,
        async approve(userCode, verificationUri) {
          await person.decide({ userCode, verificationUri, decision: 'approve', viaQr: false, readMs: 0 });
        },
      });
      const serverErrors = count5xx(stats);
      results.push({ name, ...outcome, held: outcome.held && serverErrors === 0, serverErrors });
    } catch (error) {
      results.push({
        name,
        held: false,
        summary: `the attack could not be carried out: ${error instanceof Error ? error.message : String(error)}`,
        details: {},
        serverErrors: count5xx(stats),
      });
    }
  }
  return results;
}
