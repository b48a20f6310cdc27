import assert from 'node:assert/strict';
import type { DeviceCliEvent } from '@devicegate/protocol';
import { createTokenStore } from '@devicegate/device-client';
import type { TestAppliance } from '../../support/appliance.ts';
import { cliProcess, type CliResult } from './cli.ts';
import { decide, type Decider } from './e2e.ts';

/**
 * Runs `login --json` as firmware would: reads the events line by line, and when the code shows
 * up lets the person decide in the browser. Returns the process result and its events.
 */
export async function jsonLogin(
  dg: TestAppliance,
  args: string[],
  env: Record<string, string>,
  decision: 'approve' | 'deny' | 'none',
  t: Decider & { signal: AbortSignal },
  command?: string[],
): Promise<CliResult & { events: DeviceCliEvent[] }> {
  const events: DeviceCliEvent[] = [];
  let decided: Promise<void> = Promise.resolve();
  const result = await cliProcess(['login', '--json', '--issuer', dg.issuer, ...args], env, {
    ...(command ? { command } : {}),
    signal: t.signal,
    onStdoutLine(line) {
      const event = JSON.parse(line) as DeviceCliEvent;
      events.push(event);
      if (event.event === 'code' && decision !== 'none') {
        decided = decide(
          dg,
          {
            userCode: event.user_code,
            verificationUri: event.verification_uri,
            ...(event.verification_uri_complete ? { verificationUriComplete: event.verification_uri_complete } : {}),
          },
          decision,
          t,
        );
      }
    },
  });
  await decided;
  return { ...result, events };
}

/** Every token of the profile, to look for in output that must not contain any. */
export async function storedSecrets(env: Record<string, string>, profile = 'default'): Promise<string[]> {
  const record = await createTokenStore({ env }).load(profile);
  assert.ok(record, 'profile stored');
  return [record.tokens.accessToken, record.tokens.refreshToken, record.tokens.idToken].filter((value): value is string => Boolean(value));
}

export function assertNoSecrets(output: string, secrets: string[], what: string): void {
  for (const secret of secrets) {
    assert.ok(!output.includes(secret), `${what} contains a token`);
    // A token split across lines or cut short would still leak: no long piece of one either.
    assert.ok(!output.includes(secret.slice(0, 24)), `${what} contains part of a token`);
  }
}
