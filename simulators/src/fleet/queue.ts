/** A work queue for the simulated people: tasks wait until a person is free. Closing ends the workers. */
export interface WorkQueue<T> {
  push(task: T): void;
  /** Resolves with the next task, or null once the queue is closed and empty. */
  take(): Promise<T | null>;
  close(): void;
  readonly waiting: number;
}

export function createWorkQueue<T>(): WorkQueue<T> {
  const tasks: T[] = [];
  const takers: Array<(task: T | null) => void> = [];
  let closed = false;
  return {
    push(task) {
      const taker = takers.shift();
      if (taker) taker(task);
      else tasks.push(task);
    },
    take() {
      if (tasks.length > 0) return Promise.resolve(tasks.shift()!);
      if (closed) return Promise.resolve(null);
      return new Promise((resolve) => takers.push(resolve));
    },
    close() {
      closed = true;
      for (const taker of takers.splice(0)) taker(null);
    },
    get waiting() {
      return tasks.length;
    },
  };
}

/** At most `limit` at once. */
export function createSemaphore(limit: number) {
  let active = 0;
  const queued: Array<() => void> = [];
  return {
    async acquire(): Promise<void> {
      if (active < limit) {
        active++;
        return;
      }
      await new Promise<void>((resolve) => queued.push(resolve));
    },
    release(): void {
      const next = queued.shift();
      if (next) next();
      else active--;
    },
  };
}
