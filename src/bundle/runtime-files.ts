import type { RuntimeFiles } from '../runtimes/index.js';
import { weightShardRoles, type Manifest } from './manifest.js';
import type { BundleBytes } from './remote.js';

/**
 * What the runtime is started with from a verified version: the model, its weights (the single
 * `weights` file, or the shards `weights.1` ... `weights.<n>` in order) and the output aliases.
 */
export function runtimeFilesOf(manifest: Manifest, files: BundleBytes): RuntimeFiles {
  const shards = weightShardRoles(manifest.files).map((role) => files[role]);
  if (shards.some((shard) => shard === undefined)) throw new Error('a weight shard listed in the manifest was not downloaded');
  return {
    model: files.model,
    ...(files.weights === undefined ? {} : { weights: files.weights }),
    ...(shards.length === 0 ? {} : { weightShards: shards as Uint8Array[] }),
    ...(manifest.outputAliases === undefined ? {} : { outputAliases: manifest.outputAliases }),
  };
}
