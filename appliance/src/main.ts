import { buildProgram, runProgram } from '@devicegate/server';
import { runServe } from './serve.ts';

const io = {
  env: process.env,
  stdin: process.stdin,
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
};

// One readable line and a non-zero exit; never a stack trace for a user's mistake.
process.exitCode = await runProgram(buildProgram(io, { serve: runServe }), process.argv, io);
