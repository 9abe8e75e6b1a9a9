import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pack } from '../src/cli/pack.js';
import { GateError, load } from '../src/node/index.js';
import { caught } from './helpers.js';
import { MODELS_DIR, streamFolders } from './parity.js';

// The tasks a model without labels brings (named outputs, embeddings) and the gate it passes instead
// of a metric (output checks), on the tone detector's bundle with its model card changed.
const [detector] = (await streamFolders()).filter((f) => f.name === 'tone-detector');
const frames = (detector!.parity.stream as { rows: { frame: number[] }[] }).rows.map((r) => Float32Array.from(r.frame));

async function packed(change: (card: Record<string, unknown>) => void): Promise<string> {
  const source = await mkdtemp(join(tmpdir(), 'ondevice-tasks-src-'));
  const out = await mkdtemp(join(tmpdir(), 'ondevice-tasks-'));
  await cp(join(MODELS_DIR, 'tone-detector/build'), source, { recursive: true });
  const card = JSON.parse(await readFile(join(source, 'model-card.json'), 'utf8')) as Record<string, unknown>;
  change(card);
  await writeFile(join(source, 'model-card.json'), JSON.stringify(card));
  await pack({ source, out });
  return join(out, 'tone-detector');
}

const unlabelled = (checks: Record<string, unknown>) => (card: Record<string, unknown>) => {
  const gate = card.gate as Record<string, unknown>;
  delete gate.metric;
  gate.unlabelled = 'tests: the gate without the labels';
  gate.checks = checks;
};

describe('tasks beyond a label or a value', () => {
  it('outputs: every named output as the model gave it, each row its slice along its batch dimension; the gate checks outputs instead of a metric', async () => {
    const folder = await packed((card) => {
      card.task = { kind: 'outputs', outputs: [{ name: 'probability' }, { name: 'hn', batch: 1, meaning: 'the next state' }] };
      unlabelled({ finite: true, ranges: { probability: [0, 1] } })(card);
    });
    const model = await load(folder, { monitor: false });
    const info = await model.info();
    expect(info.gate.passed).toBe(true);
    expect(info.gate.metric).toBeUndefined();
    expect(info.gate.checks).toMatchObject({ passed: true, failures: [] });
    const [a, b] = await model.predictBatch([{ frame: frames[0]! }, { frame: frames[1]! }]);
    const alone = await model.predict({ frame: frames[1]! });
    if (a?.kind !== 'outputs' || b?.kind !== 'outputs' || alone.kind !== 'outputs') throw new Error('expected outputs');
    expect(a.outputs.probability!.dims).toEqual([1]);
    expect(a.outputs.hn!.dims).toEqual([2, 24]);
    expect(a.outputs.hn!.data).toBeInstanceOf(Float32Array);
    // Row 1's slice of the batch's state [2, 2, 24] is what row 1 alone gives.
    expect(Array.from(b.outputs.hn!.data as Float32Array)).toEqual(Array.from(alone.outputs.hn!.data as Float32Array));
    await model.dispose();
  });

  it('embedding: a vector per row, scaled to unit length', async () => {
    const folder = await packed((card) => {
      card.task = { kind: 'embedding', output: 'probability', normalize: 'l2' };
      unlabelled({ finite: true })(card);
    });
    const model = await load(folder, { monitor: false });
    const prediction = await model.predict({ frame: frames[0]! });
    expect(prediction).toMatchObject({ kind: 'embedding', vector: new Float32Array([1]) });
    await model.dispose();
  });

  it('a failed output check refuses the version with GATE_CHECK_FAILED naming the output', async () => {
    const folder = await packed(unlabelled({ ranges: { probability: [0, 0.5] } }));
    const error = await caught(() => load(folder, { monitor: false }));
    expect(error).toBeInstanceOf(GateError);
    expect(error).toMatchObject({ code: 'GATE_CHECK_FAILED', details: { output: 'probability', what: 'range' } });
  });
});
