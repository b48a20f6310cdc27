import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Config } from '../config.ts';
import type { AuditEventRecord, Store } from '../store/types.ts';
import type { CliIo } from './output.ts';

/** What program.ts lends these commands: the shared state options and a store opened for one command. */
export interface StateHelpers {
  addStateOptions(command: Command): Command;
  withStore<T>(io: CliIo, options: Record<string, unknown>, run: (store: Store, config: Config) => Promise<T>): Promise<T>;
}

const PAGE = 1000;
/** How often `tail --follow` asks the store for new events. */
const FOLLOW_POLL_MS = 1000;

const count = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) <= 0 || Number(value) > 100_000) throw new InvalidArgumentError('must be a whole number from 1 to 100000');
  return Number(value);
};
const instant = (value: string) => {
  // ISO 8601 with a date at least; Date.parse alone would take "1" or "March 3" too.
  const at = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) throw new InvalidArgumentError('must be an ISO 8601 instant, e.g. 2025-01-31T12:00:00Z');
  return at;
};

/** One JSON line per event: id, ISO instant, event name, and its fields apart (so no field can pose as one of those). */
const auditJsonLine = (event: AuditEventRecord): string =>
  `${JSON.stringify({ id: event.id, at: new Date(event.at).toISOString(), event: event.event, fields: event.fields })}\n`;

/** For people: instant, event, then key=value pairs (values with spaces quoted). */
const auditTextLine = (event: AuditEventRecord): string => {
  const fields = Object.entries(event.fields).map(([key, value]) => {
    const text = String(value);
    return `${key}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
  });
  return `${new Date(event.at).toISOString()}  ${event.event.padEnd(28)}  ${fields.join(' ')}`.trimEnd() + '\n';
};

/** `devicegate audit tail|export`: read the append-only audit log of security events. */
export function registerAuditCommands(program: Command, io: CliIo, helpers: StateHelpers): void {
  const audit = program.command('audit').description('read the audit log of security events (append-only)');

  helpers
    .addStateOptions(audit.command('tail').description('print the newest events; with --follow, keep printing new ones'))
    .option('-n, --lines <count>', 'how many of the newest events', count, 20)
    .option('-f, --follow', 'keep printing new events until interrupted')
    .option('--json', 'one JSON object per line')
    .action(async (options: Record<string, unknown>) =>
      helpers.withStore(io, options, async (store) => {
        const print = (event: AuditEventRecord) => io.stdout(options.json ? auditJsonLine(event) : auditTextLine(event));
        const newest = await store.auditEvents.tail(options.lines as number);
        newest.forEach(print);
        if (!options.follow) return;
        let afterId = newest.at(-1)?.id ?? (await store.auditEvents.tail(1)).at(-1)?.id ?? 0;
        const stopped = new AbortController();
        const stop = () => stopped.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          while (!stopped.signal.aborted) {
            for (;;) {
              const batch = await store.auditEvents.list({ afterId, limit: PAGE });
              batch.forEach(print);
              afterId = batch.at(-1)?.id ?? afterId;
              if (batch.length < PAGE) break;
            }
            await sleep(FOLLOW_POLL_MS, undefined, { signal: stopped.signal }).catch(() => {});
          }
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );

  helpers
    .addStateOptions(audit.command('export').description('write events as JSON lines, oldest first, to standard output'))
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl']).default('jsonl'))
    .option('--since <instant>', 'only events at or after this ISO 8601 instant', instant)
    .action(async (options: Record<string, unknown>) =>
      helpers.withStore(io, options, async (store) => {
        let afterId = 0;
        for (;;) {
          const batch = await store.auditEvents.list({ afterId, since: (options.since as number | undefined) ?? 0, limit: PAGE });
          io.stdout(batch.map(auditJsonLine).join(''));
          if (batch.length < PAGE) break;
          afterId = batch.at(-1)!.id;
        }
      }),
    );
}
