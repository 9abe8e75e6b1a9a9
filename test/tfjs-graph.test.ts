import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseManifest, presentRoles } from '../src/bundle/index.js';
import { pack } from '../src/cli/pack.js';
import { MAX_FOREIGN_MESSAGE, ScoringError } from '../src/errors/index.js';
import { createRuntime } from '../src/runtimes/index.js';
import type { TfjsModelJson } from '../src/runtimes/tfjs-files.js';
import { gpuPays, planBackends } from '../src/runtimes/tfjs-gpu.js';
import { copyOfBuild, editJson, packToTemp } from './pack-helpers.js';

/**
 * A graph model as tfjs-converter writes one (`format: "graph-model"`, a GraphDef, a signature):
 * Identity(x @ w + b), its weights (w: 3x2, b: 2; 32 bytes) in two shards split inside `w`.
 */
function graphModel(paths = ['group1-shard1of2', 'group1-shard2of2']): {
  json: Record<string, unknown>;
  shards: Uint8Array[];
} {
  const float = { type: 'DT_FLOAT' };
  const constant = (name: string, dims: number[]) => ({
    name,
    op: 'Const',
    attr: { dtype: float, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: dims.map((d) => ({ size: String(d) })) } } } },
  });
  const json = {
    format: 'graph-model',
    generatedBy: 'test',
    convertedBy: 'hand',
    signature: {
      inputs: { 'x:0': { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: '3' }] } } },
      outputs: { 'Identity:0': { name: 'Identity:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: '2' }] } } },
    },
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: float, shape: { shape: { dim: [{ size: '-1' }, { size: '3' }] } } } },
        constant('w', [3, 2]),
        constant('b', [2]),
        { name: 'm', op: 'MatMul', input: ['x', 'w'], attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } } },
        { name: 'y', op: 'AddV2', input: ['m', 'b'], attr: { T: float } },
        { name: 'Identity', op: 'Identity', input: ['y'], attr: { T: float } },
      ],
      versions: { producer: 440 },
    },
    weightsManifest: [
      {
        paths,
        weights: [
          { name: 'w', shape: [3, 2], dtype: 'float32' },
          { name: 'b', shape: [2], dtype: 'float32' },
        ],
      },
    ],
  };
  const weights = new Uint8Array(new Float32Array([1, 0, 0, 1, 1, 1, 0.5, -0.5]).buffer);
  const shards = paths.length === 1 ? [weights] : [weights.slice(0, 20), weights.slice(20)];
  return { json, shards };
}

const encode = (json: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(json));

describe('TensorFlow.js graph models', () => {
  it('loads a graph model from its shards, names its outputs as the signature does, and answers to an alias', async () => {
    await tf.setBackend('cpu');
    const { json, shards } = graphModel();
    const runtime = await createRuntime(
      'tensorflow-js',
      { model: encode(json), weightShards: shards, outputAliases: { scores: 'Identity:0' } },
      { backends: ['cpu'] },
    );
    expect(runtime).toMatchObject({ name: 'tensorflow-js', backend: 'cpu', inputNames: ['x'], outputNames: ['Identity:0', 'scores'] });
    const input = { x: { data: new Float32Array([1, 2, 3, 0, 0, 0]), dims: [2, 3] } };
    // [1,2,3] @ [[1,0],[0,1],[1,1]] = [4, 5]; + [0.5, -0.5]
    const outputs = await runtime.run(input, ['scores']);
    expect(Object.keys(outputs)).toEqual(['scores']);
    expect([...outputs.scores!.data]).toEqual([4.5, 4.5, 0.5, -0.5]);
    expect(outputs.scores!.dims).toEqual([2, 2]);
    expect([...(await runtime.run(input, ['Identity:0']))['Identity:0']!.data]).toEqual([4.5, 4.5, 0.5, -0.5]);
    // A single-input model is fed whatever its one input is called.
    expect([...(await runtime.run({ pixels: input.x }, ['scores'])).scores!.data]).toEqual([4.5, 4.5, 0.5, -0.5]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) await runtime.run(input);
    expect(tf.memory().numTensors).toBe(before);
    await runtime.dispose();
  });

  it('takes the same weights as one joined file', async () => {
    const { json, shards } = graphModel();
    const joined = new Uint8Array([...shards[0]!, ...shards[1]!]);
    const runtime = await createRuntime('tensorflow-js', { model: encode(json), weights: joined }, { backends: ['cpu'] });
    expect([...(await runtime.run({ x: { data: new Float32Array([0, 0, 1]), dims: [1, 3] } }))['Identity:0']!.data]).toEqual([1.5, 0.5]);
    await runtime.dispose();
  });

  it('refuses shards that do not match model.json, saying what is wrong', async () => {
    const { json, shards } = graphModel();
    const load = (files: { weightShards?: Uint8Array[]; weights?: Uint8Array; outputAliases?: Record<string, string> }) =>
      createRuntime('tensorflow-js', { model: encode(json), ...files }, { backends: ['cpu'] });
    await expect(load({ weightShards: [shards[0]!] })).rejects.toThrow(
      /lists 2 weight shards \(group1-shard1of2, group1-shard2of2\); the bundle has 1/,
    );
    await expect(load({ weightShards: [shards[0]!, shards[1]!.slice(4)] })).rejects.toThrow(
      /weights take 32 bytes; the weight files hold 28/,
    );
    await expect(load({ weightShards: shards, outputAliases: { scores: 'logits:0' } })).rejects.toThrow(
      /outputAliases.scores names "logits:0", which the model does not output \(it has Identity:0\)/,
    );
  });

  it('summarises a graph that fails to load: the error is bounded, never the graph', async () => {
    const { json, shards } = graphModel();
    // 200 KB of graph text, with an op TensorFlow.js does not have.
    const filler = Array.from({ length: 2000 }, (_, i) => ({ name: `pad_${i}_${'p'.repeat(60)}`, op: 'NoOp' }));
    const topology = json.modelTopology as { node: Record<string, unknown>[] };
    const broken = {
      ...json,
      modelTopology: { ...topology, node: [...topology.node.map((n) => (n.name === 'y' ? { ...n, op: 'NoSuchOp' } : n)), ...filler] },
    };
    const text = encode(broken);
    expect(text.byteLength).toBeGreaterThan(150_000);
    // TensorFlow.js reads the graph's ops when it first runs it: the failure comes at load or at the first run.
    const error = await createRuntime('tensorflow-js', { model: text, weightShards: shards }, { backends: ['cpu'] })
      .then((runtime) => runtime.run({ x: { data: new Float32Array(3), dims: [1, 3] } }))
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(ScoringError);
    const message = (error as ScoringError).message;
    expect(message.length).toBeLessThan(MAX_FOREIGN_MESSAGE + 400);
    expect(message).toMatch(/Unknown op 'NoSuchOp'/);
    expect(message).not.toContain('pad_1999');
    // Not JSON at all: the parser's complaint, without the text around it.
    const notJson = await createRuntime(
      'tensorflow-js',
      { model: text.slice(0, 100_000), weightShards: shards },
      { backends: ['cpu'] },
    ).catch((thrown: unknown) => thrown as Error);
    expect((notJson as Error).message).toMatch(/model.json \(100000 bytes\) is not JSON/);
    expect((notJson as Error).message.length).toBeLessThan(800);
  });
});

describe('TensorFlow.js layers models in shards', () => {
  it('loads a layers model from its shards as model.json lists them, and answers as from one joined file', async () => {
    await tf.setBackend('cpu');
    const model = sequential({
      layers: [layers.dense({ units: 2, inputShape: [3], name: 'hidden' }), layers.dense({ units: 1, name: 'out' })],
    });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(
        async (saved) => ((artifacts = saved), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }),
      ),
    );
    const bytes = new Uint8Array(artifacts!.weightData as ArrayBuffer);
    const json = encode({
      format: 'layers-model',
      modelTopology: artifacts!.modelTopology,
      weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: artifacts!.weightSpecs }],
    });
    const sharded = await createRuntime(
      'tensorflow-js',
      { model: json, weightShards: [bytes.slice(0, 10), bytes.slice(10)] },
      { backends: ['cpu'] },
    );
    const joined = await createRuntime('tensorflow-js', { model: json, weights: bytes }, { backends: ['cpu'] });
    // Fed by the input layer's name, as the scorer feeds a single-input model.
    const input = { [sharded.inputNames[0]!]: { data: new Float32Array([1, 2, 3]), dims: [1, 3] } };
    expect([...(await sharded.run(input)).out!.data]).toEqual([...(await joined.run(input)).out!.data]);
    await sharded.dispose();
    await joined.dispose();
    model.dispose();
  });
});

describe('bundles with weight shards', () => {
  const manifest = (files: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => {
    const file = { path: 'f', size: 1, sha256: 'a'.repeat(64) };
    return {
      format: 'ondevice/manifest',
      formatVersion: 2,
      name: 'm',
      version: '1.0.0',
      contentHash: 'b'.repeat(64),
      runtime: 'tensorflow-js',
      files: { model: file, featureSpec: file, e2eSet: file, confidenceSet: file, ...files },
      versions: { model: '1.0.0', featureSpec: '1.0.0', data: 'd@sha256:x' },
      task: { kind: 'classification', classes: ['a', 'b'], probabilities: 'probabilities' },
      gate: { tolerance: 0.001, unlabelled: 'pretrained' },
      metadata: {
        description: 'd',
        algorithm: { name: 'a' },
        training: { library: 'l', libraryVersion: '1', data: { name: 'n', sha256: 's' } },
        features: [],
        outputs: [],
        build: { by: 'b', at: 'now' },
      },
      ...extra,
    };
  };
  const file = (path: string) => ({ path, size: 1, sha256: 'c'.repeat(64) });

  it('lists each shard as weights.<n>, in order, beside the single weights file of older bundles', () => {
    const parsed = parseManifest(
      manifest(
        { 'weights.2': file('group1-shard2of2'), 'weights.1': file('group1-shard1of2') },
        { outputAliases: { probabilities: 'Identity:0' } },
      ),
    );
    expect(presentRoles(parsed.files)).toEqual(['model', 'featureSpec', 'e2eSet', 'confidenceSet', 'weights.1', 'weights.2']);
    expect(parsed.outputAliases).toEqual({ probabilities: 'Identity:0' });
    expect(presentRoles(parseManifest(manifest({ weights: file('weights.bin') })).files)).toContain('weights');
  });

  it('refuses a gap in the shards, both forms at once, no weights, and aliases of aliases', () => {
    expect(() => parseManifest(manifest({ 'weights.1': file('a'), 'weights.3': file('c') }))).toThrow(/without a gap/);
    expect(() => parseManifest(manifest({ weights: file('w'), 'weights.1': file('a') }))).toThrow(/two forms of the same weights/);
    expect(() => parseManifest(manifest({}))).toThrow(/files.weights is required by a TensorFlow.js model/);
    expect(() => parseManifest(manifest({ 'weights.01': file('a') }))).toThrow(/not a known file role/);
    expect(() => parseManifest(manifest({ weights: file('w') }, { outputAliases: { a: 'b', b: 'c' } }))).toThrow(/is an alias itself/);
  });
});

const NSFW_BUILD = fileURLToPath(new URL('../models/nsfw-mobilenet/build/', import.meta.url));

describe('pack with weight shards', () => {
  it('packs each shard model.json lists under its own name, with the aliases', async () => {
    const { result } = await packToTemp(NSFW_BUILD);
    const { files, outputAliases } = result.manifest;
    expect(files['weights.1']).toMatchObject({ path: 'group1-shard1of2', size: 4194304 });
    expect(files['weights.2']).toMatchObject({ path: 'group1-shard2of2', size: 106471 });
    expect(files.weights).toBeUndefined();
    expect(outputAliases).toEqual({ probabilities: 'Identity:0' });
  });

  it('refuses a missing shard, naming it, and shards of the wrong total size', async () => {
    const missing = await copyOfBuild(NSFW_BUILD);
    await rm(join(missing, 'group1-shard2of2'));
    await expect(pack({ source: missing, out: join(missing, 'out') })).rejects.toMatchObject({
      code: 'FETCH_FAILED',
      message: expect.stringMatching(/lists 2 weight shards \(group1-shard1of2, group1-shard2of2\); missing: group1-shard2of2/),
    });
    const short = await copyOfBuild(NSFW_BUILD);
    await writeFile(join(short, 'group1-shard2of2'), (await readFile(join(short, 'group1-shard2of2'))).subarray(1));
    await expect(pack({ source: short, out: join(short, 'out') })).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
      message: expect.stringMatching(/weights take 4300775 bytes; group1-shard1of2, group1-shard2of2 hold 4300774/),
    });
  });

  it('refuses an alias naming an output the graph does not have, naming what it has', async () => {
    const wrong = await copyOfBuild(NSFW_BUILD);
    await editJson(wrong, 'model-card.json', (card) => {
      card.outputAliases = { probabilities: 'Softmax:0' };
    });
    await expect(pack({ source: wrong, out: join(wrong, 'out') })).rejects.toMatchObject({
      code: 'INVALID_MANIFEST',
      message: expect.stringMatching(
        /outputAliases.probabilities names "Softmax:0", which model.json does not output \(its signature's outputs: Identity:0\)/,
      ),
    });
  });

  it('takes the shards joined by hand into weights.bin, and one shard as the single weights file', async () => {
    const joined = await copyOfBuild(NSFW_BUILD);
    const bytes = Buffer.concat([await readFile(join(joined, 'group1-shard1of2')), await readFile(join(joined, 'group1-shard2of2'))]);
    await writeFile(join(joined, 'weights.bin'), bytes);
    await rm(join(joined, 'group1-shard1of2'));
    await rm(join(joined, 'group1-shard2of2'));
    const packed = await pack({ source: joined, out: join(joined, 'out') });
    expect(packed.manifest.files.weights).toMatchObject({ path: 'weights.bin', size: 4300775 });
    expect(packed.manifest.files['weights.1']).toBeUndefined();

    const single = await copyOfBuild(NSFW_BUILD);
    await writeFile(join(single, 'group1-shard1of1.bin'), bytes);
    await editJson<{ weightsManifest: { paths: string[] }[] }>(single, 'model.json', (json) => {
      json.weightsManifest[0]!.paths = ['group1-shard1of1.bin'];
    });
    const one = await pack({ source: single, out: join(single, 'out') });
    expect(one.manifest.files.weights).toMatchObject({ path: 'group1-shard1of1.bin', size: 4300775 });
  });
});

describe('TensorFlow.js backend choice (auto)', () => {
  it('keeps a small dense model on wasm, and says why', async () => {
    const { json, shards } = graphModel();
    expect(gpuPays(json as unknown as TfjsModelJson)).toBeUndefined();
    const plan = await planBackends({ model: encode(json), weightShards: shards }, undefined);
    expect(plan.backends).toEqual(['wasm', 'cpu']);
    expect(plan.reason).toMatch(/small model without convolutions/);
  });

  it('puts a GPU first for a convolutional network where there is one, and says when there is none (Node)', async () => {
    const { json } = graphModel();
    const topology = json.modelTopology as { node: Record<string, unknown>[] };
    const conv = { ...json, modelTopology: { ...topology, node: [...topology.node, { name: 'c', op: '_FusedConv2D' }] } };
    expect(gpuPays(conv as unknown as TfjsModelJson)).toBe('a convolutional network (1 convolution)');
    const layers = {
      modelTopology: { model_config: { config: { layers: [{ class_name: 'Conv2D' }, { class_name: 'Dense' }] } } },
      weightsManifest: [],
    };
    expect(gpuPays(layers as unknown as TfjsModelJson)).toBe('a convolutional network (1 convolution)');
    const plan = await planBackends({ model: encode(conv) }, undefined);
    // Node has neither navigator.gpu nor OffscreenCanvas: wasm, saying so (ondevice verify prints it).
    expect(plan.backends).toEqual(['wasm', 'cpu']);
    expect(plan.reason).toMatch(/a GPU would pay, but none is usable here \(WebGPU is not available.*; WebGL is not available/);
    // TensorFlow.js has one backend per worker: a model live on webgl puts webgl first for the next.
    expect(await planBackends({ model: encode(json) }, 'webgl')).toMatchObject({
      backends: ['webgl', 'wasm', 'cpu'],
      reason: expect.stringMatching(/another TensorFlow.js model in this worker scores on webgl/),
    });
  });

  it('reports the reason with the runtime, and a GPU backend that cannot start as a fallback with its reason', async () => {
    const { json, shards } = graphModel();
    const runtime = await createRuntime(
      'tensorflow-js',
      { model: encode(json), weightShards: shards },
      { backends: ['webgpu', 'webgl', 'cpu'] },
    );
    expect(runtime.backend).toBe('cpu');
    expect(runtime.backendReason).toBe('the app asked for cpu');
    expect(runtime.fallbacks).toEqual([
      { backend: 'webgpu', reason: expect.stringMatching(/WebGPU is not available/) },
      { backend: 'webgl', reason: 'WebGL is not available: no OffscreenCanvas here' },
    ]);
    await runtime.dispose();
  });
});
