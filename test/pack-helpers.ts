import { mkdtemp, readFile } from 'node:fs/promises';
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
