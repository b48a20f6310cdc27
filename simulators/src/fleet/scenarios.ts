import type { Decision } from '../people/person.ts';

/**
 * What the person does with a device's code, and the outcome the device must then see:
 * approve and slow-reader (reads the consent page for a while first) end in tokens, deny in
 * access_denied, ignore (nobody acts) in expired_token once the code's lifetime has passed.
 */
export const SCENARIO_NAMES = ['approve', 'deny', 'ignore', 'slow-reader'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export type FlowOutcome = 'approved' | 'denied' | 'expired' | 'error';

export const EXPECTED_OUTCOME: Record<ScenarioName, Exclude<FlowOutcome, 'error'>> = {
  approve: 'approved',
  deny: 'denied',
  ignore: 'expired',
  'slow-reader': 'approved',
};

/** The person's decision in a scenario, or null when nobody acts. */
export function decisionOf(scenario: ScenarioName): Decision | null {
  if (scenario === 'ignore') return null;
  return scenario === 'deny' ? 'deny' : 'approve';
}

export const CHANNEL_CHOICES = ['mix', 'websocket', 'mqtt', 'poll'] as const;
export type FleetChannel = (typeof CHANNEL_CHOICES)[number];
