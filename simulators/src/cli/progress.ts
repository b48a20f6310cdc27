import cliProgress from 'cli-progress';
import type { FleetProgress } from '../fleet/run.ts';

/** A progress bar on stderr while the fleet runs; nothing at all when stderr is not a terminal. */
export function createProgress(stream: NodeJS.WriteStream, enabled: boolean) {
  if (!enabled || !stream.isTTY) return { update: (_progress: FleetProgress) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'fleet [{bar}] {value}/{total} | approved {approved} denied {denied} expired {expired} error {error} | waiting for a person {queued} | {duration_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(progress: FleetProgress) {
      const payload = { ...progress.outcomes, queued: progress.queuedForPeople };
      if (!started) {
        bar.start(progress.total, progress.done, payload);
        started = true;
      } else bar.update(progress.done, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
