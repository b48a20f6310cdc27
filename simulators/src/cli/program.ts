import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ATTACK_NAMES, parseAttacks } from '../attacks/index.ts';
import { renderReport } from '../fleet/report.ts';
import { runFleet } from '../fleet/run.ts';
import { CHANNEL_CHOICES, SCENARIO_NAMES, type FleetChannel } from '../fleet/scenarios.ts';
import { parseWeights, UsageError } from '../mix.ts';
import type { PersonAccount } from '../people/person.ts';
import { PROFILE_NAMES, PROFILES, type ProfileName } from '../profiles.ts';
import { provision } from '../provision.ts';
import { readUsersFile } from '../users-file.ts';
import { createProgress } from './progress.ts';

export interface SimIo {
  stdout(text: string): void;
  stderr(text: string): void;
  stderrStream: NodeJS.WriteStream;
}

const wholeNumber = (flag: string, minimum = 0) => (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < minimum) throw new InvalidArgumentError(`${flag} must be a whole number ≥ ${minimum}`);
  return Number(value);
};

function clientMap(value: string, previous: Partial<Record<ProfileName, string>> = {}): Partial<Record<ProfileName, string>> {
  const match = /^([a-z]+)=(\S+)$/.exec(value);
  if (!match || !(PROFILE_NAMES as readonly string[]).includes(match[1]!)) {
    throw new InvalidArgumentError(`--client takes profile=client_id with a profile of ${PROFILE_NAMES.join(', ')}`);
  }
  return { ...previous, [match[1] as ProfileName]: match[2]! };
}

/** Exit codes: 0 all as expected, 1 some flow, error, 5xx or attack failed, 2 usage. */
export function buildProgram(io: SimIo): Command {
  const program = new Command('devicegate-sim')
    .description('Simulated fleets of devices and people against a devicegate appliance')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command('fleet')
    .description('run N simulated devices (real device client) and people (real verification pages); report outcomes, latency, errors, attacks')
    .requiredOption('--issuer <url>', 'the appliance (its issuer URL)')
    .option('--devices <n>', 'number of devices', wholeNumber('--devices'), 100)
    .option('--mix <weights>', `device profiles (${PROFILE_NAMES.join(', ')})`, 'tv=40,translator=20,notetaker=20,cli=20')
    .option('--scenario <weights>', `what people do (${SCENARIO_NAMES.join(', ')})`, 'approve=70,deny=10,ignore=10,slow-reader=10')
    .addOption(new Option('--channel <channel>', 'where devices wait: each profile its own (mix) or all on one').choices(CHANNEL_CHOICES).default('mix'))
    .option('--concurrency <n>', 'device flows in progress at once (default: all devices)', wholeNumber('--concurrency', 1))
    .option('--users-file <file>', 'existing accounts for the people: username:password lines or a JSON array')
    .option('--data-dir <dir>', "create the clients and people with `devicegate` in this appliance's data dir")
    .option('--database-url <url>', 'the same for an appliance on PostgreSQL')
    .option('--config <file>', "the same through the appliance's config file")
    .option('--people <n>', 'people to create with --data-dir/--database-url/--config', wholeNumber('--people', 1), 10)
    .option('--code-lifetime <s>', 'device code lifetime of the created clients', wholeNumber('--code-lifetime', 1), 120)
    .option('--interval <s>', 'polling interval of the created clients', wholeNumber('--interval', 1), 5)
    .option('--client <profile=client_id>', 'use an existing client for a profile (repeatable)', clientMap)
    .option('--slow-read <ms>', 'how long a slow reader reads the consent page (± 50 %)', wholeNumber('--slow-read'), 3000)
    .option('--think <ms>', 'how long until someone notices a code and picks up their phone (± 50 %)', wholeNumber('--think'), 2000)
    .option('--attack <names>', `attack scenarios after the fleet: ${ATTACK_NAMES.join(', ')} or all (comma separated)`)
    .option('--seed <n>', 'seed of the fleet plan (same seed, same fleet)', wholeNumber('--seed'), 1)
    .option('--timeout <s>', 'hard bound on the whole run', wholeNumber('--timeout', 1), 900)
    .option('--json <file>', 'write the JSON report here')
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal)')
    .action(async (options: Record<string, unknown>) => {
      const mix = parseWeights(options.mix as string, PROFILE_NAMES, '--mix');
      const scenarios = parseWeights(options.scenario as string, SCENARIO_NAMES, '--scenario');
      let attacks;
      try {
        attacks = options.attack ? parseAttacks(options.attack as string) : [];
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const clients = Object.fromEntries(
        PROFILE_NAMES.map((name) => [name, (options.client as Partial<Record<ProfileName, string>> | undefined)?.[name] ?? PROFILES[name].defaultClientId]),
      ) as Record<ProfileName, string>;
      let people: PersonAccount[] = [];
      if (options.usersFile) people = readUsersFile(options.usersFile as string);
      if (options.dataDir || options.databaseUrl || options.config) {
        io.stderr('devicegate-sim: creating the simulation clients and people with the devicegate CLI\n');
        const created = await provision({
          ...(options.dataDir ? { dataDir: options.dataDir as string } : {}),
          ...(options.databaseUrl ? { databaseUrl: options.databaseUrl as string } : {}),
          ...(options.config ? { configFile: options.config as string } : {}),
          people: options.usersFile ? 0 : (options.people as number),
          codeLifetime: options.codeLifetime as number,
          interval: options.interval as number,
          clients,
        });
        people = [...people, ...created];
      }
      const progress = createProgress(io.stderrStream, options.progress !== false);
      let report;
      try {
        report = await runFleet({
          issuer: options.issuer as string,
          devices: options.devices as number,
          mix,
          scenarios,
          channel: options.channel as FleetChannel,
          ...(options.concurrency ? { concurrency: options.concurrency as number } : {}),
          people,
          clients,
          slowReadMs: options.slowRead as number,
          thinkMs: options.think as number,
          seed: options.seed as number,
          attacks,
          timeoutMs: (options.timeout as number) * 1000,
          onProgress: progress.update,
        });
      } finally {
        progress.stop();
      }
      io.stdout(renderReport(report));
      if (options.json) writeFileSync(options.json as string, `${JSON.stringify(report, null, 2)}\n`);
      if (!report.ok) process.exitCode = 1;
    });
  return program;
}
