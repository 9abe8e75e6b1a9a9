#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { relative } from 'node:path';
import { OndeviceError } from '../errors/index.js';
import { pack, SOURCE_FILES } from './pack.js';

const HELP = `ondevice — package trained models for the browser

Usage:
  ondevice pack <model-build-dir> --out <bundle-dir> [--no-promote]

Commands:
  pack    Check, hash and copy a trained model into <bundle-dir>/<version>/ with a manifest.json,
          and make it the live version in <bundle-dir>/channel.json (unless --no-promote).
          <model-build-dir> holds what the training script wrote:
            ${Object.values(SOURCE_FILES).join(', ')}

Options:
  -h, --help    Show this help.
`;

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { out: { type: 'string', short: 'o' }, 'no-promote': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command === 'pack') {
    if (rest.length !== 1 || values.out === undefined) {
      process.stderr.write('ondevice pack: give one model build folder and --out <bundle-dir>\n\n' + HELP);
      return 2;
    }
    const result = await pack({ source: rest[0]!, out: values.out, promote: !values['no-promote'] });
    const where = relative(process.cwd(), result.manifestPath);
    process.stdout.write(
      `${result.written ? 'packed' : 'already packed'} ${result.manifest.name} ${result.manifest.version} -> ${where}\n` +
        `  content ${result.manifest.contentHash.slice(0, 16)}…, manifest sha256 ${result.manifestSha256.slice(0, 16)}…\n` +
        (result.channelPath ? `  live in ${relative(process.cwd(), result.channelPath)}\n` : ''),
    );
    return 0;
  }
  process.stderr.write(`ondevice: unknown command "${command}"\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    if (error instanceof OndeviceError) process.stderr.write(`ondevice: ${error.message} [${error.code}]\n`);
    else process.stderr.write(`ondevice: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
