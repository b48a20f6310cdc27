/**
 * Deadlines of many waiting connections on one timer instead of a timer each (server memory per
 * waiting device, docs/performance.md#one-deadline-timer: a Node timer and its closure are a few
 * hundred bytes, times ten thousand). Deadlines fall into slots of `resolutionMs`; one interval,
 * running only while anything is scheduled, fires the slots that are due. A deadline fires at most
 * `resolutionMs` late, never early. A cancelled item leaves its slot at once, so a finished
 * connection is not kept alive until its old deadline.
 */
export interface Scheduled {
  /** When this item is due (ms on the monotonic clock); undefined when nothing is scheduled. */
  deadline: number | undefined;
}

export interface Deadlines<T extends Scheduled> {
  /** (Re)schedules `item` to be due `delayMs` from now, replacing any earlier deadline. */
  schedule(item: T, delayMs: number): void;
  cancel(item: T): void;
  /** Items scheduled now (for tests and shutdown). */
  readonly size: number;
  /** Stops the timer; nothing scheduled fires after this. */
  stop(): void;
}

export function createDeadlines<T extends Scheduled>(options: { onDue: (item: T) => void; resolutionMs?: number; now?: () => number }): Deadlines<T> {
  const resolution = options.resolutionMs ?? 250;
  const now = options.now ?? (() => performance.now());
  const slots = new Map<number, Set<T>>();
  let size = 0;
  /** Every slot up to this one has fired (slot s is due once now >= s * resolution). */
  let firedUpTo = Math.floor(now() / resolution);
  let timer: NodeJS.Timeout | undefined;

  function remove(item: T): void {
    if (item.deadline === undefined) return;
    const slot = slots.get(item.deadline / resolution);
    if (slot?.delete(item)) size--;
    if (slot?.size === 0) slots.delete(item.deadline / resolution);
    item.deadline = undefined;
  }

  function tick(): void {
    const current = Math.floor(now() / resolution);
    for (let slot = firedUpTo + 1; slot <= current; slot++) {
      const due = slots.get(slot);
      if (due === undefined) continue;
      slots.delete(slot);
      size -= due.size;
      for (const item of due) {
        item.deadline = undefined;
        options.onDue(item);
      }
    }
    firedUpTo = Math.max(firedUpTo, current);
    if (slots.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    schedule(item, delayMs) {
      remove(item);
      // The first slot not fired yet that is not early: at most one resolution late.
      const slot = Math.max(Math.ceil((now() + Math.max(0, delayMs)) / resolution), firedUpTo + 1);
      item.deadline = slot * resolution;
      const set = slots.get(slot);
      if (set === undefined) slots.set(slot, new Set([item]));
      else set.add(item);
      size++;
      if (timer === undefined) {
        timer = setInterval(tick, resolution);
        timer.unref();
      }
    },
    cancel: remove,
    get size() {
      return size;
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      for (const set of slots.values()) for (const item of set) item.deadline = undefined;
      slots.clear();
      size = 0;
    },
  };
}
