import type { LoadedRuntime, OutputTensor, RuntimeFiles } from './runtime.js';

/**
 * What this library reads of a TensorFlow.js `model.json` (tfjs-converter's format: a layers model's
 * Keras topology, or a graph model's GraphDef under `modelTopology` with `format: "graph-model"`),
 * and its weights' bytes. No TensorFlow.js import: `pack` and the loader share it.
 */
export interface TfjsModelJson {
  readonly format?: string;
  readonly modelTopology: unknown;
  readonly weightsManifest: readonly WeightsGroup[];
  readonly signature?: unknown;
  readonly userDefinedMetadata?: Record<string, unknown>;
  readonly modelInitializer?: unknown;
  readonly generatedBy?: string;
  readonly convertedBy?: string | null;
}

export interface WeightsGroup {
  readonly paths: readonly string[];
  readonly weights: readonly WeightSpec[];
}

export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly quantization?: { readonly dtype: string };
}

const BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

/** `model.json` read, or why not: its own size and the first problem, never its text (it can be megabytes). */
export function readTfjsModelJson(bytes: Uint8Array): TfjsModelJson {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    // JSON.parse's message quotes the text around the fault: only its first line is kept.
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
    throw new Error(`model.json (${bytes.byteLength} bytes) is not JSON: ${first}`);
  }
  const record = json as Partial<TfjsModelJson> | null;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new Error('model.json is not a JSON object');
  if (typeof record.modelTopology !== 'object' || record.modelTopology === null) throw new Error('model.json has no modelTopology');
  const groups = record.weightsManifest;
  if (!Array.isArray(groups) || !groups.every((g: Partial<WeightsGroup>) => Array.isArray(g?.paths) && Array.isArray(g?.weights)))
    throw new Error('model.json has no weightsManifest of { paths, weights } groups');
  return record as TfjsModelJson;
}

/** A graph model (tfjs-converter `format: "graph-model"`, or a GraphDef topology), not a layers model. */
export function isGraphModel(json: TfjsModelJson): boolean {
  if (json.format === 'graph-model') return true;
  if (json.format === 'layers-model') return false;
  return Array.isArray((json.modelTopology as { node?: unknown }).node);
}

/** The weight shards' file names in the order `model.json` lists them (group by group). */
export function shardPaths(json: TfjsModelJson): string[] {
  return json.weightsManifest.flatMap((group) => [...group.paths]);
}

/** The bytes every weight takes, as `model.json` declares them (quantized weights at their stored size). */
export function declaredWeightBytes(json: TfjsModelJson): number {
  let total = 0;
  for (const spec of json.weightsManifest.flatMap((group) => group.weights)) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const size = BYTES[dtype];
    if (size === undefined) throw new Error(`weight "${spec.name}" is ${dtype}, which this library does not read`);
    total += size * spec.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/**
 * The weights as TensorFlow.js takes them, checked against `model.json`: as many shards as it
 * lists, and the bytes its weights declare. Joined into one buffer: given a list of shard buffers,
 * TensorFlow.js 4.22 fails on the NSFWJS graph model, one of whose weights spans both shards
 * (CompositeArrayBuffer.slice: `RangeError: offset is out of bounds`); it copies them anyway.
 */
export function weightBuffers(json: TfjsModelJson, files: RuntimeFiles): ArrayBuffer {
  const paths = shardPaths(json);
  const shards = files.weightShards ?? (files.weights === undefined ? [] : [files.weights]);
  if (files.weightShards !== undefined && shards.length !== paths.length)
    throw new Error(`model.json lists ${paths.length} weight shards (${shownPaths(paths)}); the bundle has ${shards.length}`);
  const have = shards.reduce((sum, shard) => sum + shard.byteLength, 0);
  const declared = declaredWeightBytes(json);
  if (have !== declared) throw new Error(`model.json's weights take ${declared} bytes; the weight files hold ${have}`);
  const joined = new Uint8Array(have);
  let at = 0;
  for (const shard of shards) {
    joined.set(shard, at);
    at += shard.byteLength;
  }
  return joined.buffer;
}

export function shownPaths(paths: readonly string[]): string {
  return paths.length <= 4 ? paths.join(', ') : `${paths.slice(0, 3).join(', ')}, … ${paths.at(-1)!}`;
}

/**
 * The runtime answering to friendly output names too (`Manifest.outputAliases`): an alias asked for
 * comes back under the alias, the model's output read once.
 */
export function withOutputAliases(runtime: LoadedRuntime, aliases: Readonly<Record<string, string>> | undefined): LoadedRuntime {
  if (aliases === undefined || Object.keys(aliases).length === 0) return runtime;
  for (const [alias, name] of Object.entries(aliases))
    if (!runtime.outputNames.includes(name))
      throw new Error(`outputAliases.${alias} names "${name}", which the model does not output (it has ${runtime.outputNames.join(', ')})`);
  const real = (name: string): string => (Object.hasOwn(aliases, name) ? aliases[name]! : name);
  return {
    ...runtime,
    outputNames: [...runtime.outputNames, ...Object.keys(aliases)],
    async run(inputs, wanted) {
      const asked = wanted === undefined ? undefined : [...new Set(wanted.map(real))];
      const outputs = await runtime.run(inputs, asked);
      const named: Record<string, OutputTensor> = {};
      for (const name of wanted ?? [...runtime.outputNames, ...Object.keys(aliases)])
        if (outputs[real(name)] !== undefined) named[name] = outputs[real(name)]!;
      return named;
    },
  };
}
