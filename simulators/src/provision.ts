import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PersonAccount } from './people/person.ts';
import { ALL_PROFILE_SCOPES, PROFILE_NAMES, PROFILES, type ProfileName } from './profiles.ts';

/**
 * Creates what a simulation needs on the appliance with the appliance's own admin CLI
 * (`devicegate clients add`, `devicegate users add`) against its data dir or database: one public
 * client per device profile and the simulated people's accounts. Nothing is written behind the
 * appliance's back; the CLI is how an operator would do it.
 */
export interface ProvisionOptions {
  /** The appliance's data dir (SQLite), or its PostgreSQL URL, or its config file. */
  dataDir?: string;
  databaseUrl?: string;
  configFile?: string;
  /** How many people to create: sim-person-1 ... sim-person-N, each with a fresh random password. */
  people: number;
  /** Device code lifetime and polling interval of the simulation clients (seconds). */
  codeLifetime: number;
  interval: number;
  clients: Record<ProfileName, string>;
  /** The `devicegate` executable (default: the one of @devicegate/appliance in this checkout). */
  devicegateBin?: string;
  log?: (line: string) => void;
}

function defaultDevicegateBin(): string {
  const entry = createRequire(import.meta.url).resolve('@devicegate/appliance');
  return path.join(path.dirname(entry), '..', 'bin', 'devicegate.js');
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(bin: string, args: string[], stdin: string | null): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DEVICEGATE_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

export async function provision(options: ProvisionOptions): Promise<PersonAccount[]> {
  const bin = options.devicegateBin ?? defaultDevicegateBin();
  const where = [
    ...(options.configFile ? ['--config', options.configFile] : []),
    ...(options.dataDir ? ['--data-dir', options.dataDir] : []),
    ...(options.databaseUrl ? ['--database-url', options.databaseUrl] : []),
  ];
  const must = async (args: string[], stdin: string | null = null) => {
    const run = await runCli(bin, [...args, ...where], stdin);
    if (run.code !== 0) throw new Error(`devicegate ${args.slice(0, 3).join(' ')} failed (exit ${run.code}): ${run.stderr.trim() || run.stdout.trim()}`);
    return run;
  };

  const jobs: Array<() => Promise<unknown>> = [];
  for (const name of PROFILE_NAMES) {
    jobs.push(() =>
      must([
        'clients', 'add', options.clients[name],
        '--name', PROFILES[name].clientName,
        '--scopes', ALL_PROFILE_SCOPES.join(','),
        '--expires-in', String(options.codeLifetime),
        '--interval', String(options.interval),
        '--replace',
      ]).then(() => options.log?.(`client ${options.clients[name]} ready`)),
    );
  }
  const people: PersonAccount[] = [];
  for (let index = 1; index <= options.people; index++) {
    const account = { username: `sim-person-${index}`, password: randomBytes(18).toString('base64url') };
    people.push(account);
    jobs.push(async () => {
      const added = await runCli(bin, ['users', 'add', account.username, '--password-stdin', '--name', `Simulated person ${index}`, ...where], `${account.password}\n`);
      // A person left from an earlier run keeps the account and gets this run's password.
      if (added.code !== 0) {
        if (!/exists|taken/i.test(added.stderr)) throw new Error(`devicegate users add failed (exit ${added.code}): ${added.stderr.trim()}`);
        await must(['users', 'passwd', account.username, '--password-stdin'], `${account.password}\n`);
      }
      options.log?.(`person ${account.username} ready`);
    });
  }
  // Two at a time: each is a process that hashes with argon2; the machine may be small.
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
  return people;
}
