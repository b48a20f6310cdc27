/**
 * @devicegate/simulators: simulated fleets of devices (on the real device client) and people (on
 * the real verification pages) against a running appliance, plus attack scenarios. See the
 * `devicegate-sim` CLI and README.md.
 */
export { runFleet, planFleet, type FleetOptions, type FleetProgress } from './fleet/run.ts';
export { renderReport, type FleetReport } from './fleet/report.ts';
export { SCENARIO_NAMES, EXPECTED_OUTCOME, type ScenarioName, type FlowOutcome } from './fleet/scenarios.ts';
export { PROFILES, PROFILE_NAMES, ALL_PROFILE_SCOPES, type DeviceProfile, type ProfileName } from './profiles.ts';
export { runAttacks, ATTACK_NAMES, type AttackName, type AttackResult } from './attacks/index.ts';
export { createPerson, PersonError, type Person, type PersonAccount, type DecisionTask } from './people/person.ts';
export { createBrowser, fillForm } from './people/browser.ts';
export { provision } from './provision.ts';
export { summarize, percentile, type LatencySummary } from './stats.ts';
