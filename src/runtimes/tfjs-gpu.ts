import { describeUnknown } from '../errors/index.js';
import { webGpuUnavailable } from './device.js';
import type { RuntimeFiles } from './runtime.js';
import { declaredWeightBytes, isGraphModel, readTfjsModelJson, type TfjsModelJson } from './tfjs-files.js';

/** The TensorFlow.js backends this library ships. */
export type TfjsBackend = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/**
 * Under `auto`, a model without convolutions goes to a GPU only from this many bytes of weights
 * (4 MiB, as onnxruntime-web's `WEBGPU_MIN_MODEL_BYTES`): below it, uploading the inputs and reading
 * the results back costs more than the GPU saves.
 */
export const TFJS_GPU_MIN_WEIGHT_BYTES = 4 * 1024 * 1024;

const CONVOLUTION = /conv/i;

/** Why a GPU pays for this model (its convolutions, or its size), or undefined for a small dense model. */
export function gpuPays(json: TfjsModelJson): string | undefined {
  const convolutions = countConvolutions(json);
  if (convolutions > 0) return `a convolutional network (${convolutions} convolution${convolutions === 1 ? '' : 's'})`;
  let bytes = 0;
  try {
    bytes = declaredWeightBytes(json);
  } catch {
    // A weight this library does not read: loading says so.
  }
  if (bytes >= TFJS_GPU_MIN_WEIGHT_BYTES) return `${(bytes / 2 ** 20).toFixed(1)} MiB of weights`;
  return undefined;
}

/** Convolution ops of a graph (its functions' too), or convolution layers of a layers model. */
function countConvolutions(json: TfjsModelJson): number {
  const topology = json.modelTopology as { node?: unknown; library?: { function?: { nodeDef?: unknown }[] } };
  if (isGraphModel(json)) {
    const nodes = [
      ...(Array.isArray(topology.node) ? topology.node : []),
      ...(topology.library?.function ?? []).flatMap((f) => (Array.isArray(f.nodeDef) ? f.nodeDef : [])),
    ] as { op?: unknown }[];
    return nodes.filter((node) => typeof node.op === 'string' && CONVOLUTION.test(node.op)).length;
  }
  let count = 0;
  const walk = (value: unknown, depth: number): void => {
    if (depth > 64 || typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) return value.forEach((item) => walk(item, depth + 1));
    const record = value as Record<string, unknown>;
    if (typeof record.class_name === 'string' && CONVOLUTION.test(record.class_name)) count++;
    for (const item of Object.values(record)) walk(item, depth + 1);
  };
  walk(json.modelTopology, 0);
  return count;
}

/** Why WebGL 2 cannot be used here (in a worker: on an OffscreenCanvas), or undefined when it can. */
export function webGlUnavailable(): string | undefined {
  if (typeof OffscreenCanvas === 'undefined') return 'WebGL is not available: no OffscreenCanvas here';
  try {
    const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
    if (gl === null) return 'WebGL 2 is not available: OffscreenCanvas.getContext("webgl2") gave none';
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return undefined;
  } catch (error) {
    return `WebGL 2 is not available: ${describeUnknown(error)}`;
  }
}

/** What `auto` tries, in order, and why. */
export interface BackendPlan {
  readonly backends: readonly TfjsBackend[];
  readonly reason: string;
}

/**
 * `auto` for TensorFlow.js, as onnxruntime-web's: a GPU (WebGPU, then WebGL 2) for a convolutional
 * network or a large model where the device has one, WASM otherwise, the CPU backend last. The
 * backend is global to a worker: while another TensorFlow.js model is live on one, that one comes first.
 */
export async function planBackends(files: RuntimeFiles, live: TfjsBackend | undefined): Promise<BackendPlan> {
  if (live !== undefined)
    return {
      backends: [...new Set<TfjsBackend>([live, 'wasm', 'cpu'])],
      reason: `another TensorFlow.js model in this worker scores on ${live}, and TensorFlow.js has one backend per worker`,
    };
  let json: TfjsModelJson;
  try {
    json = readTfjsModelJson(files.model);
  } catch {
    return { backends: ['wasm', 'cpu'], reason: 'model.json could not be read (loading says why)' };
  }
  const pays = gpuPays(json);
  if (pays === undefined)
    return {
      backends: ['wasm', 'cpu'],
      reason:
        'a small model without convolutions: on a GPU, uploading its inputs and reading its results back would cost more than it saves',
    };
  const gpu = await webGpuUnavailable();
  const gl = webGlUnavailable();
  const backends: TfjsBackend[] = [
    ...(gpu === undefined ? ['webgpu' as const] : []),
    ...(gl === undefined ? ['webgl' as const] : []),
    'wasm',
    'cpu',
  ];
  const first = backends[0]!;
  return {
    backends,
    reason: first === 'wasm' ? `${pays}: a GPU would pay, but none is usable here (${gpu}; ${gl})` : `${pays}: a GPU pays, ${first} first`,
  };
}

/**
 * Registers a GPU backend (its code a chunk of its own, fetched only here) after checking the device
 * has the GPU API it needs, so that a device without one never downloads it.
 */
export async function registerGpuBackend(backend: 'webgpu' | 'webgl'): Promise<void> {
  const unavailable = backend === 'webgpu' ? await webGpuUnavailable() : webGlUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  try {
    if (backend === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
    else await import('@tensorflow/tfjs-backend-webgl');
  } catch (error) {
    throw new Error(`could not load TensorFlow.js's ${backend} backend: ${describeUnknown(error)}`);
  }
}
