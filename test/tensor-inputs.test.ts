import { describe, expect, it } from 'vitest';
import { BundleError, InputError } from '../src/errors/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { parseManifest } from '../src/bundle/index.js';
import { readSetFile } from '../src/gate/index.js';
import { readSafetensors } from '../src/gate/safetensors.js';
import { caught } from './helpers.js';

const header = { format: 'ondevice/feature-spec', formatVersion: 1, name: 't', version: '1.0.0' };
const spec = (tensors: unknown[]) => compileFeatureSpec(parseFeatureSpec({ ...header, tensors }));

describe('tensor inputs of every kind', () => {
  it('takes int64 (numbers or bigints, as a BigInt64Array), uint8, int8 and bool, checked value by value', () => {
    const t = spec([
      { name: 'ids', dtype: 'int64', shape: ['batch', 3] },
      { name: 'pixels', dtype: 'uint8', shape: ['batch', 2] },
      { name: 'delta', dtype: 'int8', shape: ['batch', 1] },
      { name: 'mask', dtype: 'bool', shape: ['batch', 2] },
    ]);
    const { inputs } = t.prepare([
      { ids: [1, 2n, 2 ** 40], pixels: new Uint8Array([0, 255]), delta: [-3], mask: [true, 0] },
      { ids: new BigInt64Array([4n, 5n, 6n]), pixels: [1, 2], delta: [127], mask: new Uint8Array([1, 1]) },
    ]);
    expect(inputs.ids).toEqual({ data: new BigInt64Array([1n, 2n, 2n ** 40n, 4n, 5n, 6n]), dims: [2, 3] });
    expect(inputs.pixels).toEqual({ data: new Uint8Array([0, 255, 1, 2]), dims: [2, 2] });
    expect(inputs.delta).toEqual({ data: new Int8Array([-3, 127]), dims: [2, 1] });
    expect(inputs.mask).toEqual({ data: new Uint8Array([1, 0, 1, 1]), dims: [2, 2] });
  });

  it('refuses values a dtype cannot hold, an int64 number past 2^53, and the wrong typed array, naming the input', async () => {
    const t = spec([
      { name: 'ids', dtype: 'int64', shape: ['batch', 1] },
      { name: 'pixels', dtype: 'uint8', shape: ['batch', 1] },
    ]);
    const good = { ids: [1], pixels: [1] };
    const cases: [unknown, string, string][] = [
      [{ ...good, ids: [2 ** 60] }, 'WRONG_TYPE', 'ids'],
      [{ ...good, ids: [1.5] }, 'WRONG_TYPE', 'ids'],
      [{ ...good, ids: [2n ** 64n] }, 'WRONG_TYPE', 'ids'],
      [{ ...good, ids: new Int32Array(1) }, 'TENSOR_DTYPE', 'ids'],
      [{ ...good, pixels: [256] }, 'WRONG_TYPE', 'pixels'],
      [{ ...good, pixels: [-1] }, 'WRONG_TYPE', 'pixels'],
      [{ ...good, pixels: new Int8Array(1) }, 'TENSOR_DTYPE', 'pixels'],
    ];
    for (const [row, code, field] of cases) {
      const error = await caught(() => t.prepare([good, row]));
      expect(error, String(code)).toBeInstanceOf(InputError);
      expect(error).toMatchObject({ code, details: { row: 1, field } });
    }
    expect((await caught(() => t.prepare([{ ...good, ids: [2 ** 60] }]))) as InputError).toHaveProperty(
      'message',
      expect.stringContaining('bigint'),
    );
  });

  it('takes float16 as its bits in a Uint16Array; numbers only where the engine has Float16Array', async () => {
    const t = spec([{ name: 'h', dtype: 'float16', shape: ['batch', 2] }]);
    expect(t.prepare([{ h: new Uint16Array([0x3c00, 0xc000]) }]).inputs.h).toEqual({
      data: new Uint16Array([0x3c00, 0xc000]),
      dims: [1, 2],
    });
    const hasHalf = (globalThis as { Float16Array?: unknown }).Float16Array !== undefined;
    if (hasHalf) expect(t.prepare([{ h: [1, -2] }]).inputs.h!.data).toEqual(new Uint16Array([0x3c00, 0xc000]));
    else
      expect(await caught(() => t.prepare([{ h: [1, -2] }]))).toMatchObject({
        code: 'TENSOR_DTYPE',
        details: { field: 'h', expected: 'float16' },
      });
    expect(await caught(() => t.prepare([{ h: new Float32Array(2) }]))).toMatchObject({ code: 'TENSOR_DTYPE', details: { field: 'h' } });
  });

  it('stacks along a batch dimension that is not the first, feeds constants and initial states, and refuses a constant sent', async () => {
    const t = spec([
      { name: 'x', dtype: 'float32', shape: ['batch', 2] },
      { name: 'sr', dtype: 'int64', shape: [], constant: [16000] },
      { name: 'h', dtype: 'float32', shape: [2, 'batch', 3], state: { from: 'hn', initial: 0 } },
    ]);
    expect(t.inputs.map((i) => i.name)).toEqual(['x']);
    const a = [1, 2, 3, 4, 5, 6];
    const b = [10, 20, 30, 40, 50, 60];
    const { inputs } = t.prepare([
      { x: [1, 2], h: a },
      { x: [3, 4], h: b },
    ]);
    expect(inputs.sr).toEqual({ data: new BigInt64Array([16000n]), dims: [] });
    // [2, batch, 3]: layer 0 of both rows, then layer 1 of both.
    expect(Array.from(inputs.h!.data as Float32Array)).toEqual([1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60]);
    expect(inputs.h!.dims).toEqual([2, 2, 3]);
    expect(Array.from(t.prepare([{ x: [1, 2] }]).inputs.h!.data as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(await caught(() => t.prepare([{ x: [1, 2], sr: 8000 }]))).toMatchObject({ code: 'CONSTANT_INPUT', details: { field: 'sr' } });
    expect(await caught(() => t.prepare([{ x: [1, 2], h: a }], { state: {} }))).toMatchObject({
      code: 'UNEXPECTED_FIELD',
      details: { field: 'h' },
    });
  });

  it('an input without a batch dimension takes scalars and one example per call', async () => {
    const t = spec([
      { name: 'x', dtype: 'float32', shape: [4], batch: null },
      { name: 'k', dtype: 'int32', shape: [], batch: null },
    ]);
    expect(t.oneExampleBy).toBe('x');
    expect(t.prepare([{ x: [1, 2, 3, 4], k: 3 }]).inputs).toEqual({
      x: { data: new Float32Array([1, 2, 3, 4]), dims: [4] },
      k: { data: new Int32Array([3]), dims: [] },
    });
    expect(
      await caught(() =>
        t.prepare([
          { x: [1, 2, 3, 4], k: 1 },
          { x: [1, 2, 3, 4], k: 1 },
        ]),
      ),
    ).toMatchObject({
      code: 'INVALID_BATCH',
      details: { field: 'x' },
    });
  });

  it('refuses a spec whose constant or state does not fit, or that leaves the caller nothing to send', () => {
    const bad = (tensors: unknown[]) => caught(() => parseFeatureSpec({ ...header, tensors }));
    return Promise.all([
      expect(bad([{ name: 'x', dtype: 'float32', shape: ['batch', 2], constant: [1, 2, 3] }])).resolves.toMatchObject({
        code: 'INVALID_FEATURE_SPEC',
        details: { path: 'tensors[0].constant' },
      }),
      expect(bad([{ name: 'x', dtype: 'int64', shape: [], constant: [0.5] }])).resolves.toBeInstanceOf(BundleError),
      expect(bad([{ name: 'x', dtype: 'float32', shape: ['batch', 'n'], state: { from: 'y' } }])).resolves.toMatchObject({
        details: { path: 'tensors[0].state' },
      }),
      expect(bad([{ name: 'x', dtype: 'float32', shape: ['batch', 2], batch: 'rows' }])).resolves.toMatchObject({
        details: { path: 'tensors[0].batch' },
      }),
      expect(bad([{ name: 'x', dtype: 'complex64', shape: ['batch'] }])).resolves.toMatchObject({ details: { path: 'tensors[0].dtype' } }),
      expect(bad([{ name: 'x', dtype: 'float32', shape: [], constant: [1] }])).resolves.toMatchObject({ details: { path: 'tensors' } }),
    ]);
  });
});

/** A safetensors file made by hand, as models/ondevice_export/safetensors.py writes one. */
function safetensors(header: Record<string, unknown>, body: Uint8Array): Uint8Array {
  let text = new TextEncoder().encode(JSON.stringify(header));
  text = Uint8Array.from([...text, ...new Array<number>((8 - (text.length % 8)) % 8).fill(32)]);
  const out = new Uint8Array(8 + text.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(body, 8 + text.length);
  return out;
}

describe('test sets in safetensors', () => {
  const frames = new Float32Array([1, 2, 3, 4, 5, 6]);
  const expected = new Float64Array([0.25, 0.75]);
  const body = new Uint8Array([...new Uint8Array(frames.buffer), ...new Uint8Array(expected.buffer)]);
  const file = safetensors(
    {
      __metadata__: { set: JSON.stringify({ sequence: true, labels: ['a', 'b'] }) },
      'rows.frame': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      'expected.outputs.p': { dtype: 'F64', shape: [2, 1], data_offsets: [24, 40] },
    },
    body,
  );

  it('reads rows as typed arrays, expected outputs as numbers, and the JSON parts from the metadata', () => {
    const set = readSetFile(file, 'set.safetensors', () => ({})) as {
      rows: { frame: Float32Array }[];
      expected: { outputs: { p: number[][] } };
      sequence: boolean;
      labels: string[];
    };
    expect(set.rows.map((r) => Array.from(r.frame))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(set.rows[0]!.frame).toBeInstanceOf(Float32Array);
    expect(set.expected.outputs.p).toEqual([[0.25], [0.75]]);
    expect(set).toMatchObject({ sequence: true, labels: ['a', 'b'] });
  });

  it('reads the same from a Node Buffer inside a larger pool (a view, not a copy, of its bytes)', () => {
    const pooled = Buffer.concat([Buffer.alloc(13), Buffer.from(file)]).subarray(13);
    const set = readSetFile(pooled, 'set.safetensors', () => ({})) as {
      rows: { frame: Float32Array }[];
      expected: { outputs: { p: number[][] } };
    };
    expect(Array.from(set.rows[1]!.frame)).toEqual([4, 5, 6]);
    expect(set.expected.outputs.p).toEqual([[0.25], [0.75]]);
  });

  it('refuses a truncated file, a header past the file, bytes that do not match the shape, and an unknown dtype', async () => {
    const cases = [
      file.subarray(0, 5),
      file.subarray(0, 40),
      safetensors({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      safetensors({ x: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
      safetensors({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4000] } }, new Uint8Array(8)),
    ];
    for (const bytes of cases) {
      const error = await caught(() => readSafetensors(bytes, 'set.safetensors'));
      expect(error).toBeInstanceOf(BundleError);
      expect(error).toMatchObject({ code: 'INVALID_SET', details: { file: 'set.safetensors' } });
    }
  });
});

describe('tasks and gates of models without labels', () => {
  const base = (task: unknown, gate: unknown) => ({
    format: 'ondevice/manifest',
    formatVersion: 2,
    name: 'm',
    version: '1.0.0',
    contentHash: 'a'.repeat(64),
    runtime: 'onnxruntime-web',
    files: Object.fromEntries(
      ['model', 'featureSpec', 'e2eSet', 'confidenceSet'].map((role) => [role, { path: `${role}.bin`, size: 1, sha256: 'b'.repeat(64) }]),
    ),
    versions: { model: '1', featureSpec: '1', data: 'x' },
    task,
    gate,
    metadata: {
      description: 'd',
      algorithm: { name: 'a' },
      training: { library: 'l', libraryVersion: '1', data: { name: 'n', sha256: 's' } },
      features: [],
      outputs: [],
      build: { by: 'b', at: 'now' },
    },
  });

  it('parses binary, outputs and embedding tasks, and a gate with checks and no metric', () => {
    const gate = {
      tolerance: 1e-5,
      unlabelled: 'a pretrained detector published without data',
      checks: { finite: true, ranges: { p: [0, 1] } },
    };
    expect(parseManifest(base({ kind: 'binary', output: 'p', classes: ['no', 'yes'] }, gate)).task).toEqual({
      kind: 'binary',
      output: 'p',
      classes: ['no', 'yes'],
      threshold: 0.5,
    });
    expect(
      parseManifest(base({ kind: 'outputs', outputs: [{ name: 'p' }, { name: 'hn', batch: 1 }, { name: 's', batch: null }] }, gate)).task,
    ).toEqual({
      kind: 'outputs',
      outputs: [
        { name: 'p', batch: 0 },
        { name: 'hn', batch: 1 },
        { name: 's', batch: null },
      ],
    });
    expect(parseManifest(base({ kind: 'embedding', output: 'v', normalize: 'l2' }, gate)).gate).toEqual(gate);
  });

  it('a gate without a metric must say why', async () => {
    expect(await caught(() => parseManifest(base({ kind: 'embedding', output: 'v' }, { tolerance: 1e-5 })))).toMatchObject({
      code: 'INVALID_MANIFEST',
      details: { path: 'gate.unlabelled' },
    });
    expect(
      await caught(() => parseManifest(base({ kind: 'binary', output: 'p', classes: ['a', 'a'] }, { tolerance: 1, unlabelled: 'x' }))),
    ).toMatchObject({
      details: { path: 'task.classes' },
    });
  });
});
