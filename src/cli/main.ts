#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { relative } from 'node:path';
import { OndeviceError } from '../errors/index.js';
import { findBuildFolders, MODEL_FILES, pack, SOURCE_FILES } from './pack.js';

const HELP = `ondevice — package trained models for the browser

Usage:
  ondevice pack <folder>... --out <bundles-dir> [--no-promote]

Commands:
  pack    For every build folder at or below each <folder> (a folder holding model-card.json):
          check, hash and copy the trained model into <bundles-dir>/<name>/<version>/ with a
          manifest.json, and make it the live version in <bundles-dir>/<name>/channel.json
          (unless --no-promote). A build folder holds what the training script wrote:
            ${Object.values(SOURCE_FILES).join(', ')}
            and the model: ${Object.entries(MODEL_FILES).map(([runtime, files]) => `${Object.values(files).join(' + ')} (${runtime})`).join(' or ')}

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
    if (rest.length === 0 || values.out === undefined) {
      process.stderr.write('ondevice pack: give at least one model folder and --out <bundles-dir>\n\n' + HELP);
      return 2;
    }
    const folders = (await Promise.all(rest.map(findBuildFolders))).flat();
    if (folders.length === 0) {
      process.stderr.write(`ondevice pack: no ${SOURCE_FILES.modelCard} at or below ${rest.join(', ')}\n`);
      return 1;
    }
    for (const source of folders) {
      const result = await pack({ source, out: values.out, promote: !values['no-promote'] });
      const where = relative(process.cwd(), result.manifestPath);
      process.stdout.write(
        `${result.written ? 'packed' : 'already packed'} ${result.manifest.name} ${result.manifest.version} (${result.manifest.runtime}) -> ${where}\n` +
          `  content ${result.manifest.contentHash.slice(0, 16)}…, manifest sha256 ${result.manifestSha256.slice(0, 16)}…` +
          (result.channelPath ? `, live in ${relative(process.cwd(), result.channelPath)}\n` : '\n'),
      );
    }
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
