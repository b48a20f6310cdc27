/**
 * Group commit by event-loop turn: the items queued in one turn run as one batch (one
 * transaction) at setImmediate, in arrival order, and each caller is answered only once its
 * batch has run, so nobody hears "done" before the commit. One commit per item was a large share
 * of the CPU time of a device authorization, a poll and an audit event (docs/performance.md);
 * a turn under load holds dozens of them.
 *
 * `run` gets the batch's items and returns one result per item, in the same order, or nothing
 * when there is nothing to report (every caller then gets undefined). An Error among the results
 * rejects that item's caller alone (a user code taken, while the rest of the batch commits); a
 * throw or a rejected promise from `run` rejects every caller of the batch. `run` may be
 * synchronous (better-sqlite3's transactions) or return a promise (a network database): batches
 * run one at a time, and the items queued while one runs make the next batch, started as soon
 * as the running one is done.
 */
export type BatchResults<Result> = ReadonlyArray<Result | Error> | void;

export interface TurnBatch<Item, Result> {
  /** Queues `item` for this turn's batch; settles once that batch has run. */
  add(item: Item): Promise<Result>;
  /**
   * Runs what is queued now instead of at the end of the turn, and resolves once nothing is
   * queued or running (never rejects: failures go to the callers of `add`). With a synchronous
   * `run`, the queued items are written before `flush` returns: for close(), and for a read that
   * must see what was queued before it.
   */
  flush(): Promise<void>;
}

interface Entry<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export function createTurnBatch<Item, Result = void>(
  run: (items: Item[]) => BatchResults<Result> | Promise<BatchResults<Result>>,
): TurnBatch<Item, Result> {
  let queue: Array<Entry<Item, Result>> = [];
  /** The batch whose asynchronous `run` has not settled yet. */
  let running: Promise<void> | undefined;

  function settle(batch: Array<Entry<Item, Result>>, results: BatchResults<Result>): void {
    batch.forEach((entry, index) => {
      const result = results?.[index];
      if (result instanceof Error) entry.reject(result);
      else entry.resolve(result as Result);
    });
  }

  function fail(batch: Array<Entry<Item, Result>>, error: unknown): void {
    for (const entry of batch) entry.reject(error);
  }

  /** Runs the queued items as one batch, unless one is running (its end starts the next). */
  function runQueued(): void {
    if (running || queue.length === 0) return;
    const batch = queue;
    queue = [];
    let outcome: BatchResults<Result> | Promise<BatchResults<Result>>;
    try {
      outcome = run(batch.map((entry) => entry.item));
    } catch (error) {
      fail(batch, error);
      return;
    }
    if (!(outcome instanceof Promise)) {
      settle(batch, outcome);
      return;
    }
    running = outcome.then(
      (results) => settle(batch, results),
      (error: unknown) => fail(batch, error),
    );
    void running.then(() => {
      running = undefined;
      runQueued();
    });
  }

  return {
    add(item) {
      return new Promise<Result>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (queue.length === 1) setImmediate(runQueued);
      });
    },
    async flush() {
      runQueued();
      // The end of a running batch starts the next one, if anything was queued meanwhile.
      while (running) await running;
    },
  };
}
