// The group-commit helper both stores build on (server/src/store/turn-batch.ts): batches by
// event-loop turn, in arrival order, each caller answered after its batch; per-item and
// whole-batch failures; flush for close(); a batch queued while an asynchronous one runs.
// No timers: a turn is waited for with setImmediate, which runs after the helper's own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTurnBatch } from '../../server/src/store/turn-batch.ts';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A promise and its resolver, to hold an asynchronous batch open. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('turn batch', () => {
  it('runs the items of one turn as one batch, in arrival order, each caller getting its own result', async () => {
    const batches: number[][] = [];
    const batch = createTurnBatch<number, string>((items) => {
      batches.push(items);
      return items.map((item) => `result ${item}`);
    });
    const results = await Promise.all([batch.add(1), batch.add(2), batch.add(3)]);
    assert.deepEqual(batches, [[1, 2, 3]]);
    assert.deepEqual(results, ['result 1', 'result 2', 'result 3']);
  });

  it('items of later turns make later batches', async () => {
    const batches: string[][] = [];
    const batch = createTurnBatch<string>((items) => {
      batches.push(items);
    });
    const first = [batch.add('a'), batch.add('b')];
    await nextTurn();
    const second = [batch.add('c')];
    await Promise.all([...first, ...second]);
    assert.deepEqual(batches, [['a', 'b'], ['c']]);
  });

  it('runs nothing before the end of the turn, and answers no caller before its batch has run', async () => {
    let ran = false;
    const batch = createTurnBatch<number>(() => {
      ran = true;
    });
    let answered = false;
    const added = batch.add(1).then(() => {
      answered = true;
    });
    await Promise.resolve();
    assert.equal(ran, false);
    assert.equal(answered, false);
    await added;
    assert.equal(ran, true);
  });

  it('an Error among the results rejects that caller alone; the others get their results', async () => {
    const batch = createTurnBatch<number, number>((items) => items.map((item) => (item === 2 ? new RangeError(`no ${item}`) : item * 10)));
    const results = await Promise.allSettled([batch.add(1), batch.add(2), batch.add(3)]);
    assert.deepEqual(results[0], { status: 'fulfilled', value: 10 });
    assert.equal(results[1]!.status, 'rejected');
    assert.equal((results[1] as PromiseRejectedResult).reason.message, 'no 2');
    assert.deepEqual(results[2], { status: 'fulfilled', value: 30 });
  });

  it('a batch that throws rejects every caller of it with that error, and the next batch runs', async () => {
    const failure = new Error('database is locked');
    let calls = 0;
    const batch = createTurnBatch<number>(() => {
      calls++;
      if (calls === 1) throw failure;
    });
    const results = await Promise.allSettled([batch.add(1), batch.add(2)]);
    assert.deepEqual(results, [
      { status: 'rejected', reason: failure },
      { status: 'rejected', reason: failure },
    ]);
    await batch.add(3);
    assert.equal(calls, 2);
  });

  it('an asynchronous batch that rejects rejects every caller of it', async () => {
    const failure = new Error('connection lost');
    const batch = createTurnBatch<number>(async () => {
      throw failure;
    });
    const results = await Promise.allSettled([batch.add(1), batch.add(2)]);
    assert.deepEqual(results, [
      { status: 'rejected', reason: failure },
      { status: 'rejected', reason: failure },
    ]);
  });

  it('flush runs what is queued at once: a synchronous batch is written before flush returns', async () => {
    const written: number[] = [];
    const batch = createTurnBatch<number>((items) => {
      written.push(...items);
    });
    const added = [batch.add(1), batch.add(2)];
    const flushed = batch.flush();
    assert.deepEqual(written, [1, 2]);
    await flushed;
    await Promise.all(added);
    // The turn's own run finds nothing left to do.
    await nextTurn();
    assert.deepEqual(written, [1, 2]);
  });

  it('flush with nothing queued resolves, and never rejects for a failed batch', async () => {
    const batch = createTurnBatch<number>(() => {
      throw new Error('refused');
    });
    await batch.flush();
    const added = batch.add(1);
    await batch.flush();
    await assert.rejects(added, /refused/);
  });

  it('items queued while an asynchronous batch runs wait for it, then make one batch', async () => {
    const batches: number[][] = [];
    const held = deferred<void>();
    const batch = createTurnBatch<number, number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await held.promise;
      return items;
    });
    const first = batch.add(1);
    await nextTurn();
    assert.deepEqual(batches, [[1]]);
    // The first batch is still running: these queue behind it, over several turns.
    const second = [batch.add(2), batch.add(3)];
    await nextTurn();
    const third = batch.add(4);
    await nextTurn();
    assert.deepEqual(batches, [[1]], 'no second batch while the first runs');
    let firstAnswered = false;
    void first.then(() => {
      firstAnswered = true;
    });
    await Promise.resolve();
    assert.equal(firstAnswered, false, 'no caller is answered before its batch is done');
    held.resolve();
    assert.deepEqual(await Promise.all([first, ...second, third]), [1, 2, 3, 4]);
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
  });

  it('flush waits for a running asynchronous batch and for the one queued behind it', async () => {
    const done: number[] = [];
    const held = deferred<void>();
    const batch = createTurnBatch<number>(async (items) => {
      if (items.includes(1)) await held.promise;
      done.push(...items);
    });
    void batch.add(1);
    await nextTurn();
    void batch.add(2);
    const flushed = batch.flush();
    held.resolve();
    await flushed;
    assert.deepEqual(done, [1, 2]);
  });
});
