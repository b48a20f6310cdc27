// Device grant ids sort by creation time, so their rows append to the end of the id index.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeOrderedId } from '@devicegate/server/secrets';

test('ids made later sort after ids made earlier, as plain strings (the way SQLite compares TEXT)', () => {
  const times = [0, 1, 999, 1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000, 2 ** 47];
  const ids = times.map((time) => timeOrderedId(time));
  assert.deepEqual([...ids].sort(), ids);
});

test('ids of the same millisecond differ: 96 random bits after the time', () => {
  const ids = new Set(Array.from({ length: 1000 }, () => timeOrderedId(1_700_000_000_000)));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^[0-9a-f]{12}[A-Za-z0-9_-]{16}$/);
});
