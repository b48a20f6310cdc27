import type { FetchFunction } from '@devicegate/device-client';
import type { PersonAccount } from '../people/person.ts';
import type { createRawClient } from './oauth.ts';

export const ATTACK_NAMES = ['replay-device-code', 'reuse-refresh-token', 'ignore-slow-down', 'guesser'] as const;
export type AttackName = (typeof ATTACK_NAMES)[number];

export interface AttackResult {
  name: AttackName;
  /** The defence held: the attack got nothing it should not have. */
  held: boolean;
  /** One line for the table. */
  summary: string;
  details: Record<string, unknown>;
  /** 5xx answers during the attack: an attack must never break the appliance either. */
  serverErrors: number;
}

export interface AttackContext {
  issuer: string;
  /** A public client with the device_code and refresh_token grants (offline_access allowed). */
  clientId: string;
  /** A person who approves the attacker's own device through the pages (replay, reuse). */
  person: PersonAccount;
  fetch: FetchFunction;
}

export type AttackOutcome = Omit<AttackResult, 'name' | 'serverErrors'>;

export interface AttackTools {
  issuer: string;
  fetch: FetchFunction;
  client: Awaited<ReturnType<typeof createRawClient>>;
  /** The person approves a user code through the real pages. */
  approve(userCode: string, verificationUri: string): Promise<void>;
}

