import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCommand, type CliIO, type Command } from '../src/cli/command.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command in this process, as main.ts does, with its output captured. */
export async function run(command: Command, args: readonly string[]): Promise<Ran> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]): Writable =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        into.push(Buffer.from(chunk));
        done();
      },
    });
  const io: CliIO = { stdout: sink(out), stderr: sink(err), stderrIsTTY: false };
  const code = await runCommand(command, args, io);
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** The real command line, in a child process: `node --import tsx src/cli/main.ts ...`. */
export async function spawnCli(args: readonly string[]): Promise<Ran> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}
