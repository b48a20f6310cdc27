import { buildProgram, CliError } from '@devicegate/server';
import { CommanderError } from 'commander';
import { runServe } from './serve.ts';

const program = buildProgram(
  {
    env: process.env,
    stdin: process.stdin,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  },
  { serve: runServe },
);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError && error.exitCode === 0) {
    process.exitCode = 0; // --help, --version
  } else {
    // One readable line and a non-zero exit; never a stack trace for a user's mistake.
    const message = (error instanceof Error ? error.message : String(error)).replace(/^error: /, '');
    process.stderr.write(`devicegate: ${message.split('\n')[0]}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : error instanceof CommanderError ? 2 : 1;
  }
}
