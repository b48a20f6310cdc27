// The shared deadline timer of the WebSocket push channel: one interval for every waiting
// connection's subscribe deadline or grant expiry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../support/until.ts';
import { createDeadlines, type Scheduled } from '../../server/src/push/deadlines.ts';

interface Item extends Scheduled {
  name: string;
}
const item = (name: string): Item => ({ name, deadline: undefined });

test('an item fires once, never before its delay', async () => {
  const fired: Array<{ name: string; at: number }> = [];
  const deadlines = createDeadlines<Item>({ resolutionMs: 10, onDue: (due) => fired.push({ name: due.name, at: performance.now() }) });
  const scheduledAt = performance.now();
  deadlines.schedule(item('a'), 40);
  deadlines.schedule(item('b'), 0);
  await until(() => fired.length === 2, 5000, 'both items');
  const a = fired.find((entry) => entry.name === 'a')!;
  assert.ok(a.at - scheduledAt >= 40, `fired ${a.at - scheduledAt} ms after scheduling, not at least 40`);
  assert.equal(deadlines.size, 0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(fired.length, 2, 'nothing fires twice');
  deadlines.stop();
});

test('a cancelled item never fires and leaves its slot at once; rescheduling replaces the deadline', async () => {
  const fired: string[] = [];
  const deadlines = createDeadlines<Item>({ resolutionMs: 10, onDue: (due) => fired.push(due.name) });
  const cancelled = item('cancelled');
  const moved = item('moved');
  deadlines.schedule(cancelled, 20);
  deadlines.schedule(moved, 20);
  deadlines.schedule(moved, 60);
  assert.equal(deadlines.size, 2);
  deadlines.cancel(cancelled);
  assert.equal(deadlines.size, 1, 'a finished connection is not held until its old deadline');
  assert.equal(cancelled.deadline, undefined);
  await until(() => fired.length === 1, 5000, 'the moved item');
  assert.deepEqual(fired, ['moved']);
  deadlines.stop();
});

test('many items in one slot all fire; stop drops whatever is left', async () => {
  const fired = new Set<string>();
  const deadlines = createDeadlines<Item>({ resolutionMs: 10, onDue: (due) => fired.add(due.name) });
  for (let i = 0; i < 1000; i++) deadlines.schedule(item(`n${i}`), 15);
  const late = item('late');
  deadlines.schedule(late, 60_000);
  await until(() => fired.size === 1000, 5000, 'all thousand');
  deadlines.stop();
  assert.equal(deadlines.size, 0);
  assert.equal(late.deadline, undefined);
});
