/**
 * The bench's control channel to a measured server process (the appliance, the peer): the parent
 * asks over IPC for a CPU profile of a window, memory after two full GCs, CPU time so far, and a
 * stop; a lost parent stops the server too, so no run leaves a process behind.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

function residentBytes(): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return kb ? Number(kb) * 1024 : process.memoryUsage().rss;
}

export function answerBenchControl(stop: () => Promise<void>): void {
  // CPU profiles of chosen windows (one load run each), for `npm run bench -- --cpu-prof-dir DIR`.
  const inspector = new Session();
  inspector.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => inspector.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))));

  process.on('message', async (message: { type: string; file?: string }) => {
    if (message.type === 'profile-start') {
      await post('Profiler.enable');
      await post('Profiler.start');
      process.send!({ type: 'profiling' });
    } else if (message.type === 'profile-stop') {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      writeFileSync(message.file!, JSON.stringify(profile));
      process.send!({ type: 'profiled' });
    } else if (message.type === 'memory') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      await new Promise((resolve) => setTimeout(resolve, 50));
      gc?.();
      const usage = process.memoryUsage();
      process.send!({ type: 'memory', rss: residentBytes(), heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers, gc: Boolean(gc) });
    } else if (message.type === 'cpu') {
      const usage = process.cpuUsage();
      process.send!({ type: 'cpu', micros: usage.user + usage.system });
    } else if (message.type === 'stop') {
      await stop();
      process.send!({ type: 'stopped' }, () => process.exit(0));
    }
  });
  process.on('disconnect', () => {
    void stop().finally(() => process.exit(0));
  });
}
