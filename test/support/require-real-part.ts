// Tests that drive a real part (Chromium, mosquitto, PostgreSQL) need its binary on the machine.
// A developer without it gets a skip that says what is missing; CI (CI=true) gets a failure,
// because a suite that quietly skips there would report green while testing nothing.

/** The piece of node:test's TestContext this needs; a structural type so any context fits. */
export interface SkippableTest {
  skip(message?: string): void;
}

function missingMessage(name: string): string {
  return `${name} is not installed: run \`bash scripts/install-test-deps.sh\` (or \`npm test\`, which runs it)`;
}

function inCI(): boolean {
  return process.env.CI === 'true';
}

/**
 * Returns true when the part is available, so the test goes on. When it is missing: throws in CI;
 * elsewhere marks the test skipped (when given its context) and returns false, so the test returns.
 *
 *   test('renders the page', async (t) => {
 *     if (!requireRealPart('chromium', chromiumAvailable(), t)) return;
 *     ...
 *   });
 */
export function requireRealPart(name: string, available: boolean, t?: SkippableTest): boolean {
  if (available) return true;
  const message = missingMessage(name);
  if (inCI()) throw new Error(`${message} (required in CI)`);
  if (t) t.skip(message);
  else process.emitWarning(`skipping: ${message}`);
  return false;
}

/**
 * The same rule as an option for a whole test or suite, where there is no context yet:
 *   describe('mqtt push', { skip: skipWithoutRealPart('mosquitto', mosquittoAvailable()) }, ...)
 * Returns false (run) or the skip reason; throws in CI, which fails the test file loudly.
 */
export function skipWithoutRealPart(name: string, available: boolean): false | string {
  if (available) return false;
  const message = missingMessage(name);
  if (inCI()) throw new Error(`${message} (required in CI)`);
  return message;
}
