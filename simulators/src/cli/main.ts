import { CommanderError } from 'commander';
import { UsageError } from '../mix.ts';
import { buildProgram } from './program.ts';

const program = buildProgram({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrStream: process.stderr,
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError && error.exitCode === 0) {
    process.exitCode = 0; // --help, --version
  } else if (error instanceof CommanderError) {
    process.exitCode = 2; // commander printed the reason
  } else {
    process.stderr.write(`devicegate-sim: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
// Keep-alive sockets and the like must not hold a finished run open.
setTimeout(() => process.exit(), 1000).unref();
