#!/usr/bin/env node
import { describeFailure, processIO, runCommand, type Command } from './command.js';
import { diffCommand } from './diff.js';
import { keygenCommand } from './keygen.js';
import { packCommand } from './pack.js';
import { promoteCommand } from './promote.js';
import { rollbackCommand } from './rollback.js';
import { rolloutCommand } from './rollout-command.js';
import { scoreCommand } from './score.js';
import { signCommand } from './sign.js';
import { verifyCommand } from './verify.js';

/** In the order of a model's life: pack, sign, check, compare, try on some users, release, go back, use. */
const COMMANDS: readonly Command[] = [
  packCommand,
  keygenCommand,
  signCommand,
  verifyCommand,
  diffCommand,
  rolloutCommand,
  promoteCommand,
  rollbackCommand,
  scoreCommand,
];

const HELP = `ondevice — package trained models for the browser, and release them

Usage:
  ${COMMANDS.map((c) => c.usage).join('\n  ')}

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)}${c.summary}`).join('\n')}

Run "ondevice <command> --help" for what a command does and its options.
Exit status: 0 done, 1 the work failed (the message names what and why, with its error code), 2 the
command line is wrong.
`;

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  const io = processIO();
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    process.stderr.write(
      `ondevice: unknown command "${name}"; the commands are ${COMMANDS.map((c) => c.name).join(', ')} (ondevice --help)\n`,
    );
    return 2;
  }
  return runCommand(command, rest, io);
}

// A reader that goes away (ondevice verify … | head) is not a failure of the command.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(describeFailure(error));
    process.exitCode = 1;
  },
);
