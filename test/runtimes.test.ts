import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ScoringError } from '../src/errors/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { createRuntime, type Runtime, type RuntimeFiles } from '../src/runtimes/index.js';
import { onnxProvider, WEBGPU_MIN_MODEL_BYTES } from '../src/runtimes/onnx.js';
import { createScorer } from '../src/scoring/index.js';
import { caught, penguinFiles, readJson, type PenguinE2E } from './helpers.js';

const penguins = await penguinFiles();
const e2e = await readJson<PenguinE2E>(new URL('../models/penguins/build/e2e-set.json', import.meta.url));
const mlp: RuntimeFiles = {
  model: new Uint8Array(await readFile(new URL('../models/house-prices/build/mlp-tfjs/model.json', import.meta.url))),
  weights: new Uint8Array(await readFile(new URL('../models/house-prices/build/mlp-tfjs/weights.bin', import.meta.url))),
};

/** The penguins model behind `runtime` reproduces the research probabilities: the backend really serves. */
async function expectPenguinsServed(runtime: Runtime): Promise<void> {
  const spec = parseFeatureSpec(JSON.parse(new TextDecoder().decode(penguins.featureSpec)));
  const task = { kind: 'classification', probabilities: 'probabilities', classes: ['Adelie', 'Chinstrap', 'Gentoo'] } as const;
  const scorer = createScorer(compileFeatureSpec(spec), runtime, task);
  const predictions = scorer.predictions(await scorer.score(e2e.rows));
  predictions.forEach((p, r) => {
    if (p.kind !== 'classification') throw new Error('expected a classification');
    Object.values(p.probabilities).forEach((value, c) =>
      expect(Math.abs(value - e2e.expected.probabilities[r]![c]!)).toBeLessThanOrEqual(1e-5),
    );
  });
}

/**
 * The penguins model grown past the WebGPU threshold, still a valid model: an unknown length-delimited
 * field (number 1000) at the end of the ModelProto, which protobuf parsers skip.
 */
function paddedPastThreshold(model: Uint8Array): Uint8Array {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
    return [...out, n];
  };
  const filler = WEBGPU_MIN_MODEL_BYTES;
  const head = [...varint((1000 << 3) | 2), ...varint(filler)];
  const padded = new Uint8Array(model.length + head.length + filler);
  padded.set(model);
  padded.set(head, model.length);
  return padded;
}

/** A page with WebGPU whose adapter is a stub: enough for the probe, useless for a real session. */
function stubWebGpu(): ReturnType<typeof vi.fn> {
  const requestAdapter = vi.fn(async () => ({}));
  vi.stubGlobal('navigator', { hardwareConcurrency: 1, gpu: { requestAdapter } });
  return requestAdapter;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('runtime registry: backends in order, fallbacks with reasons, one combined error', () => {
  it('onnxruntime-web: a forced webgpu that cannot start (no navigator.gpu in Node) falls back to wasm, with the reason', async () => {
    const runtime = await createRuntime('onnxruntime-web', { model: penguins.model }, { backends: ['webgpu', 'wasm'] });
    try {
      expect(runtime).toMatchObject({ name: 'onnxruntime-web', backend: 'wasm', threads: 1 });
      expect(runtime.fallbacks).toEqual([
        { backend: 'webgpu', reason: expect.stringMatching(/WebGPU is not available: navigator\.gpu is missing/) },
      ]);
      await expectPenguinsServed(runtime);
    } finally {
      await runtime.dispose();
    }
  });

  it('onnxruntime-web: auto picks wasm alone for the small penguins model, without asking for a GPU adapter', async () => {
    const requestAdapter = stubWebGpu();
    const runtime = await createRuntime('onnxruntime-web', { model: penguins.model });
    try {
      expect(runtime).toMatchObject({ backend: 'wasm', fallbacks: [] });
      expect(requestAdapter).not.toHaveBeenCalled();
      await expectPenguinsServed(runtime);
    } finally {
      await runtime.dispose();
    }
  });

  it('reads back only the outputs asked for (a classifier scored for its probabilities leaves its labels)', async () => {
    const wasm = await createRuntime('onnxruntime-web', { model: penguins.model });
    const tfjs = await createRuntime('tensorflow-js', mlp);
    try {
      const row = {
        [wasm.inputNames[0]!]: { data: new Float32Array(e2e.expected.features[0]!), dims: [1, e2e.expected.features[0]!.length] },
      };
      expect(Object.keys(await wasm.run(row)).sort()).toEqual(['label', 'probabilities']);
      expect(Object.keys(await wasm.run(row, ['probabilities']))).toEqual(['probabilities']);
      const input = { [tfjs.inputNames[0]!]: { data: new Float32Array(41), dims: [1, 41] } };
      expect(Object.keys(await tfjs.run(input, []))).toEqual([]);
      expect(Object.keys(await tfjs.run(input, tfjs.outputNames))).toEqual(tfjs.outputNames);
    } finally {
      await wasm.dispose();
      await tfjs.dispose();
    }
  });

  it('onnxruntime-web: auto tries webgpu first only for a model of 4 MiB or more on a device with an adapter', async () => {
    const small: RuntimeFiles = { model: new Uint8Array(WEBGPU_MIN_MODEL_BYTES - 1) };
    const large: RuntimeFiles = { model: new Uint8Array(WEBGPU_MIN_MODEL_BYTES) };
    expect(await onnxProvider.auto(large)).toEqual(['wasm']); // Node: no navigator.gpu
    const requestAdapter = stubWebGpu();
    expect(await onnxProvider.auto(small)).toEqual(['wasm']);
    expect(requestAdapter).not.toHaveBeenCalled();
    expect(await onnxProvider.auto(large)).toEqual(['webgpu', 'wasm']);
    requestAdapter.mockResolvedValueOnce(null);
    expect(await onnxProvider.auto(large)).toEqual(['wasm']);
  });

  it('onnxruntime-web: auto on a large model whose WebGPU session fails still serves on wasm and says why', async () => {
    stubWebGpu();
    const runtime = await createRuntime('onnxruntime-web', { model: paddedPastThreshold(penguins.model) });
    try {
      expect(runtime.backend).toBe('wasm');
      expect(runtime.fallbacks).toHaveLength(1);
      expect(runtime.fallbacks[0]!.backend).toBe('webgpu');
      // The stub adapter passes the probe; onnxruntime-web's WebGPU build then fails on it.
      expect(runtime.fallbacks[0]!.reason).toMatch(/^onnxruntime-web could not create a webgpu session: ./);
      await expectPenguinsServed(runtime);
    } finally {
      await runtime.dispose();
    }
  }, 60_000);

  it('onnxruntime-web: when every backend fails, one RUNTIME_LOAD_FAILED names each backend and its reason', async () => {
    const error = await caught(() =>
      createRuntime('onnxruntime-web', { model: new Uint8Array([1, 2, 3]) }, { backends: ['webgpu', 'wasm', 'cpu'] }),
    );
    expect(error).toBeInstanceOf(ScoringError);
    const { code, message, details } = error as ScoringError;
    expect(code).toBe('RUNTIME_LOAD_FAILED');
    expect(details).toMatchObject({ runtime: 'onnxruntime-web', tried: ['webgpu', 'wasm', 'cpu'] });
    const reasons = details.reasons as readonly string[];
    expect(reasons[0]).toMatch(/navigator\.gpu is missing/);
    expect(reasons[1]).toMatch(/could not create a wasm session: .*protobuf parsing failed/);
    expect(reasons[2]).toBe('onnxruntime-web has no cpu backend (it has webgpu, wasm)');
    for (const [i, backend] of ['webgpu', 'wasm', 'cpu'].entries()) expect(message).toContain(`${backend} (${reasons[i]})`);
  });

  it('an empty list, or a name from outside the list of backends, is refused with a reason rather than thrown raw', async () => {
    const empty = (await caught(() => createRuntime('onnxruntime-web', { model: penguins.model }, { backends: [] }))) as ScoringError;
    expect(empty).toMatchObject({ code: 'RUNTIME_LOAD_FAILED', details: { tried: [] } });
    const bare = (await caught(() =>
      createRuntime('onnxruntime-web', { model: penguins.model }, { backends: 'wasm' as unknown as ['wasm'] }),
    )) as ScoringError;
    expect(bare).toMatchObject({ code: 'RUNTIME_LOAD_FAILED', message: "backends must be 'auto' or a list of backend names" });
    // An app's list is not checked by the type system at runtime: prototype keys are not backends.
    const odd = JSON.parse('["__proto__", "toString", "wasm"]') as ['wasm'];
    const runtime = await createRuntime('onnxruntime-web', { model: penguins.model }, { backends: odd });
    try {
      expect(runtime.backend).toBe('wasm');
      expect(runtime.fallbacks.map((f) => f.backend)).toEqual(['__proto__', 'toString']);
      expect(runtime.fallbacks[1]!.reason).toBe('onnxruntime-web has no toString backend (it has webgpu, wasm)');
    } finally {
      await runtime.dispose();
    }
  });

  it('TensorFlow.js: auto tries wasm, then cpu; in Node its .wasm cannot be fetched from the bundler URL, so cpu serves and the reason is kept', async () => {
    const runtime = await createRuntime('tensorflow-js', mlp);
    try {
      expect(runtime).toMatchObject({ name: 'tensorflow-js', backend: 'cpu', threads: 1 });
      expect(runtime.fallbacks).toEqual([
        { backend: 'wasm', reason: expect.stringMatching(/^tf\.setBackend\('wasm'\) failed: .*tfjs-backend-wasm/) },
      ]);
      const outputs = await runtime.run({ [runtime.inputNames[0]!]: { data: new Float32Array(41), dims: [1, 41] } });
      expect(Object.values(outputs)[0]!.dims).toEqual([1, 1]);
    } finally {
      await runtime.dispose();
    }
    // The WASM module cannot be started twice: the next model in this worker is told why at once.
    const again = await createRuntime('tensorflow-js', mlp);
    expect(again.fallbacks[0]!.reason).toMatch(/not retried\)$/);
    await again.dispose();
  });

  it('TensorFlow.js: webgl and webgpu, where the device lacks them (Node), are fallbacks that say why', async () => {
    const runtime = await createRuntime('tensorflow-js', mlp, { backends: ['webgl', 'cpu'] });
    expect(runtime.backend).toBe('cpu');
    expect(runtime.fallbacks).toEqual([{ backend: 'webgl', reason: 'WebGL is not available: no OffscreenCanvas here' }]);
    await runtime.dispose();
    const error = (await caught(() => createRuntime('tensorflow-js', mlp, { backends: ['webgpu', 'webgl'] }))) as ScoringError;
    expect(error).toBeInstanceOf(ScoringError);
    expect(error.details).toMatchObject({ runtime: 'tensorflow-js', tried: ['webgpu', 'webgl'] });
    expect(error.message).toMatch(/webgpu \(WebGPU is not available.*\); webgl \(WebGL is not available/);
  });
});
