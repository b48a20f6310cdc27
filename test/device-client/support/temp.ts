import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

/** A fresh directory, removed after the test that made it (or after the file, when made at top level: not in a before hook, whose after would run at once). */
export function tempDir(prefix = 'devicegate-device-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Store and key locations inside `dir`, as the environment a device would give. */
export function deviceEnv(dir: string): Record<string, string> {
  return {
    DEVICEGATE_DEVICE_STATE_DIR: path.join(dir, 'state'),
    DEVICEGATE_DEVICE_KEY_FILE: path.join(dir, 'config', 'device.key'),
  };
}
