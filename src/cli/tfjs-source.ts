import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_CEILINGS, weightShardRole, type FileRole } from '../bundle/manifest.js';
import { BundleError, describeUnknown } from '../errors/index.js';
import {
  declaredWeightBytes,
  isGraphModel,
  readTfjsModelJson,
  shardPaths,
  shownPaths,
  type TfjsModelJson,
} from '../runtimes/tfjs-files.js';
import { shown } from './files.js';

/** The joined weights file `pack` took before shards were packed as they are (still taken). */
export const JOINED_WEIGHTS = 'weights.bin';

/**
 * A TensorFlow.js build folder's model files by role, as its `model.json` names them: one weights
 * file as `weights` (the form older bundles have), several as `weights.1` ... `weights.<n>` under
 * their own names, in the order `weightsManifest` lists them. Every shard must be there and their
 * sizes must add up to what the weights declare. A folder holding the shards joined into
 * `weights.bin` instead (how they had to be packed before) is taken too.
 */
export async function tfjsModelFiles(
  source: string,
  modelBytes: Uint8Array,
  aliases?: unknown,
): Promise<Partial<Record<FileRole, string>>> {
  const modelFile = join(source, 'model.json');
  let json: TfjsModelJson;
  let declared: number;
  try {
    json = readTfjsModelJson(modelBytes);
    declared = declaredWeightBytes(json);
  } catch (error) {
    throw new BundleError('INVALID_MANIFEST', `${shown(modelFile)}: ${describeUnknown(error)}`, { file: shown(modelFile) });
  }
  checkAliases(json, aliases, source);
  const paths = shardPaths(json);
  if (paths.length > MANIFEST_CEILINGS.weightShards)
    throw new BundleError(
      'TOO_LARGE',
      `${shown(modelFile)} lists ${paths.length} weight shards; a bundle carries at most ${MANIFEST_CEILINGS.weightShards}`,
      {
        file: shown(modelFile),
        limit: MANIFEST_CEILINGS.weightShards,
      },
    );
  const sizes = await Promise.all(paths.map((path) => fileSize(source, path)));
  if (sizes.some((size) => size === undefined)) {
    const joined = await fileSize(source, JOINED_WEIGHTS);
    if (joined === undefined || paths.includes(JOINED_WEIGHTS)) {
      const missing = paths.filter((_, i) => sizes[i] === undefined);
      throw new BundleError(
        'FETCH_FAILED',
        `pack: ${shown(modelFile)} lists ${paths.length} weight shard${paths.length === 1 ? '' : 's'} (${shownPaths(paths)}); missing: ${shownPaths(missing)}`,
        { file: shown(join(source, missing[0]!)) },
      );
    }
    checkTotal(modelFile, declared, joined, `${JOINED_WEIGHTS} (the shards joined)`);
    return { model: 'model.json', weights: JOINED_WEIGHTS };
  }
  checkTotal(
    modelFile,
    declared,
    sizes.reduce<number>((sum, size) => sum + size!, 0),
    shownPaths(paths),
  );
  if (paths.length === 1) return { model: 'model.json', weights: paths[0]! };
  return { model: 'model.json', ...Object.fromEntries(paths.map((path, i) => [weightShardRole(i + 1), path])) };
}

function checkTotal(modelFile: string, declared: number, found: number, what: string): void {
  if (declared !== found)
    throw new BundleError(
      'SIZE_MISMATCH',
      `pack: ${shown(modelFile)}'s weights take ${declared} bytes; ${what} hold${what.includes(',') ? '' : 's'} ${found}`,
      { file: shown(modelFile), expected: declared, actual: found },
    );
}

/** A plain file's size, or undefined when it is not there (or its name would climb out of the folder). */
async function fileSize(source: string, name: string): Promise<number | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) return undefined;
  const info = await stat(join(source, name)).catch(() => undefined);
  return info?.isFile() === true ? info.size : undefined;
}

/**
 * The model card's `outputAliases` against a graph model's outputs (its signature's, else its nodes'),
 * so that an alias naming no output is refused by `pack` rather than by every browser. A layers model's
 * are checked when it loads.
 */
function checkAliases(json: TfjsModelJson, aliases: unknown, source: string): void {
  if (typeof aliases !== 'object' || aliases === null || !isGraphModel(json)) return;
  const signature = (json.signature ?? json.userDefinedMetadata?.signature) as { outputs?: Record<string, unknown> } | undefined;
  const nodes = ((json.modelTopology as { node?: { name?: unknown }[] }).node ?? []).map((node) => String(node.name));
  const outputs = signature?.outputs === undefined ? undefined : Object.keys(signature.outputs);
  for (const [alias, target] of Object.entries(aliases)) {
    const name = String(target);
    const found = outputs === undefined ? nodes.includes(name.replace(/:0$/, '')) : outputs.includes(name);
    if (!found) {
      const card = shown(join(source, 'model-card.json'));
      throw new BundleError(
        'INVALID_MANIFEST',
        `${card}: outputAliases.${alias} names "${name}", which model.json does not output${outputs === undefined ? '' : ` (its signature's outputs: ${shownPaths(outputs)})`}`,
        { file: card, path: `outputAliases.${alias}` },
      );
    }
  }
}
