import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack, type PackResult } from '../src/cli/pack.js';
import { PENGUINS_BUILD } from './helpers.js';

/** Packs the committed penguins build into a fresh temporary bundle folder. */
export async function packToTemp(
  source = fileURLToPath(PENGUINS_BUILD),
): Promise<{ out: string; result: PackResult; manifestJson: unknown }> {
  const out = await mkdtemp(join(tmpdir(), 'ondevice-pack-'));
  const result = await pack({ source, out });
  return { out, result, manifestJson: JSON.parse(await readFile(result.manifestPath, 'utf8')) };
}

/** A build folder copied into a fresh temporary folder (`into`: as that subfolder of it), to spoil. */
export async function copyOfBuild(build: URL | string = PENGUINS_BUILD, into?: string): Promise<string> {
  const copy = into ?? (await mkdtemp(join(tmpdir(), 'ondevice-src-')));
  await cp(typeof build === 'string' ? build : fileURLToPath(build), copy, { recursive: true });
  return copy;
}

/** Rewrites a JSON file of a build folder with `change`. */
export async function editJson<T = Record<string, unknown>>(dir: string, name: string, change: (json: T) => void): Promise<void> {
  const json = JSON.parse(await readFile(join(dir, name), 'utf8')) as T;
  change(json);
  await writeFile(join(dir, name), JSON.stringify(json, null, 1));
}

/**
 * Writes `json` as Python's json module would with allow_nan (its default): every string value
 * `"<NaN>"`, `"<Infinity>"`, `"<-Infinity>"` becomes the bare token.
 */
export async function writePythonJson(dir: string, name: string, json: unknown): Promise<void> {
  await writeFile(join(dir, name), JSON.stringify(json, null, 1).replace(/"<(NaN|-?Infinity)>"/g, '$1'));
}

/** Objects nested `levels` deep: `{a: {a: ... {}}}`. */
export function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}
