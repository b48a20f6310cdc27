// Random ids end up as CLI arguments (`devicegate grants revoke <id>`), where a leading '-' reads
// as an option: one base64url id in 64 would start with one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomId } from '@devicegate/server/secrets';

test('random ids are 128-bit base64url, all different, and none starts with -', () => {
  // 5,000 draws: with a leading '-' allowed, about 78 of them would start with one.
  const ids = new Set(Array.from({ length: 5000 }, () => randomId()));
  assert.equal(ids.size, 5000);
  for (const id of ids) {
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{20}[AQgw]$/);
  }
});
