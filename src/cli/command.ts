import type { Writable } from 'node:stream';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { OndeviceError } from '../errors/index.js';

/** Where a command writes: the process's streams, or buffers in tests. */
export interface CliIO {
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Whether stderr is a terminal: progress lines are redrawn in place only there. */
  readonly stderrIsTTY: boolean;
}

export const processIO = (): CliIO => ({ stdout: process.stdout, stderr: process.stderr, stderrIsTTY: process.stderr.isTTY === true });

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The usage line(s), without the leading "Usage:". */
  readonly usage: string;
  /** The rest of `ondevice <name> --help`: what it does, its options. */
  readonly help: string;
  /** Resolves with the exit code. Throws `UsageError` (exit 2) or a typed error (exit 1). */
  run(argv: readonly string[], io: CliIO): Promise<number>;
}

/** The command line itself is wrong: exit 2 with the usage, as opposed to a failure of the work (exit 1). */
export class UsageError extends Error {
  override name = 'UsageError';
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * parseArgs in strict mode with `--help` added; its own errors (unknown option, missing value)
 * become `UsageError`s. Returns undefined when help was asked for (and printed).
 */
export function parseCommandArgs<T extends ParseArgsOptionsConfig>(
  command: Command,
  argv: readonly string[],
  options: T,
  io: CliIO,
  positionals: { readonly min: number; readonly max: number; readonly names: string },
): { values: ReturnType<typeof parseStrict<T>>['values']; positionals: string[] } | undefined {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(helpOf(command));
    return undefined;
  }
  const parsed = parseStrict(argv, options);
  if (parsed.positionals.length < positionals.min) throw new UsageError(`give ${positionals.names}`);
  if (parsed.positionals.length > positionals.max) {
    throw new UsageError(`unexpected argument "${parsed.positionals[positionals.max]}" (expected ${positionals.names})`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

function parseStrict<T extends ParseArgsOptionsConfig>(argv: readonly string[], options: T) {
  try {
    return parseArgs({
      args: joinedValues(argv, options),
      options: { ...options, ...HELP_OPTION } as T,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // Node's parseArgs errors carry ERR_PARSE_ARGS_* codes and say which option and why.
    if (error instanceof TypeError && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS'))
      throw new UsageError(error.message);
    throw error;
  }
}

/**
 * `--option value` as `--option=value` for a string option whose value starts with a dash (a
 * base64url key may): parseArgs would otherwise refuse it as ambiguous. A value that is itself one
 * of the command's options is left alone, so a forgotten value is still reported.
 */
function joinedValues(argv: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const known = new Set([...Object.keys(options), ...Object.keys(HELP_OPTION)].map((name) => `--${name}`));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (
      name !== undefined &&
      options[name]?.type === 'string' &&
      value !== undefined &&
      value.startsWith('-') &&
      !known.has(value) &&
      value !== '-h'
    ) {
      args.push(`${arg}=${value}`);
      i++;
    } else args.push(arg);
  }
  return args;
}

export function helpOf(command: Command): string {
  return `Usage:\n  ${command.usage.split('\n').join('\n  ')}\n\n${command.help.trimEnd()}\n  -h, --help    Show this help.\n`;
}

/** Runs one command and turns what it throws into a message and an exit code. */
export async function runCommand(command: Command, argv: readonly string[], io: CliIO): Promise<number> {
  try {
    return await command.run(argv, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(
        `ondevice ${command.name}: ${error.message}\n\nUsage:\n  ${command.usage.split('\n').join('\n  ')}\n\nSee "ondevice ${command.name} --help".\n`,
      );
      return 2;
    }
    io.stderr.write(describeFailure(error));
    return 1;
  }
}

export function describeFailure(error: unknown): string {
  if (error instanceof OndeviceError) return `ondevice: ${error.message} [${error.code}]\n`;
  return `ondevice: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`;
}

/** A whole number of at least `min`, for options such as --batch. */
export function readInteger(value: string | undefined, option: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number) || number < min)
    throw new UsageError(`--${option} must be a whole number of at least ${min}, got "${value}"`);
  return number;
}

/** A positive number of days, for --expires-in. */
export function readDays(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const days = Number(value);
  if (value.trim() === '' || !Number.isFinite(days) || days <= 0)
    throw new UsageError(`--expires-in must be a positive number of days, got "${value}"`);
  return days;
}

/** An option the command cannot do without, named in the usage error. */
export function required(value: string | undefined, option: string, why = ''): string {
  if (value === undefined || value.trim() === '') throw new UsageError(`--${option} is required${why === '' ? '' : `: ${why}`}`);
  return value;
}
