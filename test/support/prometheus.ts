// A real Prometheus (Debian's `prometheus` package) for tests: a generated configuration that
// scrapes the given targets every second, its storage in a temp dir, its HTTP API on a random
// loopback port.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeDir, startDaemon, waitUntilHttpReady, type Daemon } from './daemon.ts';
import { freePort } from './ports.ts';

export const PROMETHEUS = process.env.DEVICEGATE_PROMETHEUS ?? '/usr/bin/prometheus';

export function prometheusAvailable(): boolean {
  return existsSync(PROMETHEUS);
}

export interface Prometheus {
  url: string;
  /** One instant query through the HTTP API: the value of every series it returns. */
  query(expression: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: { targets: string[]; bearerToken?: string }): Promise<Prometheus> {
  const dir = mkdtempSync(path.join(tmpdir(), 'devicegate-prometheus-'));
  const port = await freePort();
  const job = [
    '  - job_name: devicegate',
    '    scrape_interval: 1s',
    '    scrape_timeout: 1s',
    ...(options.bearerToken ? ['    authorization:', `      credentials: ${JSON.stringify(options.bearerToken)}`] : []),
    '    static_configs:',
    `      - targets: [${options.targets.map((target) => JSON.stringify(target)).join(', ')}]`,
  ];
  writeFileSync(path.join(dir, 'prometheus.yml'), ['global:', '  scrape_interval: 1s', 'scrape_configs:', ...job, ''].join('\n'));
  const daemon: Daemon = startDaemon(
    PROMETHEUS,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { name: 'prometheus', cwd: dir, exitSignal: 'SIGKILL', dir },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntilHttpReady(daemon, `${url}/-/ready`, { timeoutMs: 60_000, dir });
  return {
    url,
    async query(expression) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expression })}`, { signal: AbortSignal.timeout(5000) });
      const body = (await response.json()) as { status: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      if (body.status !== 'success' || !body.data) throw new Error(`prometheus query failed: ${JSON.stringify(body)}`);
      return body.data.result.map((series) => ({ metric: series.metric, value: Number(series.value[1]) }));
    },
    async stop() {
      await daemon.stop('SIGTERM', 10_000);
      removeDir(dir);
    },
  };
}
