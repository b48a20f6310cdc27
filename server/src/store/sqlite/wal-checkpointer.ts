import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

/**
 * Moves SQLite's WAL checkpoints off the event loop. By default SQLite checkpoints inside the
 * commit that crosses 1,000 log pages: that commit then copies pages into the database file and
 * waits for an fsync, stalling every request behind it (about half the wall time of a
 * device-grant insert; docs/performance.md#wal-checkpoints-on-a-worker). Here a worker thread
 * with its own connection runs a PASSIVE checkpoint every `intervalMs` instead, and the main
 * connection keeps a much higher automatic threshold only as a safety net, should the worker fall
 * behind or die.
 *
 * The worker starts lazily, once the log has grown past `startAboveBytes`: most stores (the CLI,
 * tests, a quiet appliance) never write that much, and a thread costs memory and start-up time.
 */
export interface WalCheckpointer {
  /** Stops the worker (if started); the caller closes its own connection afterwards. */
  stop(): Promise<void>;
}

export function startWalCheckpointer(options: {
  filename: string;
  intervalMs?: number;
  startAboveBytes?: number;
  /** How often the log's size is looked at until the worker runs. */
  watchMs?: number;
}): WalCheckpointer {
  const intervalMs = options.intervalMs ?? 200;
  const startAboveBytes = options.startAboveBytes ?? 4 * 1024 * 1024;
  let worker: Worker | undefined;
  let stopped = false;

  const watch = setInterval(() => {
    stat(`${options.filename}-wal`).then(
      (info) => {
        if (info.size > startAboveBytes && !worker && !stopped) start();
      },
      () => undefined, // no log yet
    );
  }, options.watchMs ?? 2000);
  watch.unref();

  function start(): void {
    clearInterval(watch);
    worker = new Worker(new URL('./checkpoint-worker.mjs', import.meta.url), { workerData: { filename: options.filename, intervalMs } });
    worker.unref();
    // A worker that dies (it cannot open the file) only leaves checkpoints to the writer's own
    // safety net; unhandled, its error would be thrown in the appliance.
    worker.on('error', () => undefined);
  }

  return {
    async stop() {
      stopped = true;
      clearInterval(watch);
      if (!worker) return;
      const exited = new Promise<void>((resolve) => worker!.once('exit', () => resolve()));
      worker.postMessage('stop');
      // A worker stuck in a checkpoint is cut off rather than holding up shutdown.
      const timeout = setTimeout(() => void worker?.terminate(), 5000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
