import { expect, test } from '@playwright/test';
import { streamFolders } from '../test/parity.js';
import { openHarness } from './fixtures.js';

// The library directly, without the demo's service worker in the way.
test.use({ serviceWorkers: 'block' });

const [detector] = (await streamFolders()).filter((f) => f.name === 'tone-detector');
const stream = detector!.parity.stream as { rows: { frame: number[] }[]; probability: number[]; hnLast: number[] };

test('tone detector: a session in the worker carries its state over 400 steps, equal to PyTorch within the tolerance', async ({ page }) => {
  await openHarness(page);
  const result = await page.evaluate(
    async ({ rows }) => {
      const model = await window.ondevice.load('bundles/tone-detector/channel.json');
      const info = await model.info();
      const session = await model.session();
      const probabilities: number[] = [];
      for (const row of rows) {
        const p = await session.predict({ frame: Float32Array.from(row.frame) });
        probabilities.push(p.kind === 'classification' ? p.probabilities.tone! : Number.NaN);
      }
      const state = await session.state();
      await session.dispose();
      await model.dispose();
      return { info, probabilities, h: Array.from(state!.h!.data as Float32Array), dims: state!.h!.dims };
    },
    { rows: stream.rows },
  );
  expect(result.info.gate).toMatchObject({ passed: true, metric: { name: 'accuracy', passed: true }, checks: { passed: true } });
  const tolerance = result.info.gate.endToEnd.tolerance;
  const worst = Math.max(...result.probabilities.map((p, i) => Math.abs(p - stream.probability[i]!)));
  const last = stream.hnLast;
  const worstState = Math.max(...result.h.map((v, i) => Math.abs(v - last[i]!)));
  expect(result.dims).toEqual([2, 1, 24]);
  expect(worst).toBeLessThanOrEqual(tolerance);
  expect(worstState).toBeLessThanOrEqual(tolerance);
  test.info().annotations.push({
    type: 'parity',
    description: `tone-detector (${result.info.runtime.name}/${result.info.runtime.backend}): ${result.probabilities.length} session steps, max probability diff ${worst.toExponential(2)}, max state diff ${worstState.toExponential(2)} vs PyTorch, tolerance ${tolerance}, bundle ${result.info.bundleBytes} bytes`,
  });
  console.log(test.info().annotations.at(-1)!.description);
});

test('session errors cross the worker boundary as their classes; other sessions and plain predict keep serving', async ({ page }) => {
  await openHarness(page);
  const outcome = await page.evaluate(
    async ({ rows }) => {
      const { load, InputError, StateError } = window.ondevice;
      const model = await load('bundles/tone-detector/channel.json');
      const [a, b] = [await model.session(), await model.session()];
      const attempt = async (call: () => Promise<unknown>) => {
        try {
          await call();
          return null;
        } catch (error) {
          const e = error as InstanceType<typeof InputError>;
          return { input: error instanceof InputError, state: error instanceof StateError, code: e.code, field: e.details.field ?? null };
        }
      };
      const frame = Float32Array.from(rows[0]!.frame);
      await a.predict({ frame });
      const constant = await attempt(() => a.predict({ frame, sr: 16000n }));
      const state = await attempt(() => a.predict({ frame, h: new Float32Array(48) }));
      const shape = await attempt(() => a.predict({ frame: new Float32Array(10) }));
      const bigint = await attempt(() => model.predict({ frame, h: new Float32Array(48), extra: 1 }));
      await a.dispose();
      const disposed = await attempt(() => a.predict({ frame }));
      const other = await b.predict({ frame });
      const plain = await model.predict({ frame });
      await model.dispose();
      return { constant, state, shape, bigint, disposed, other: other.kind, plain: plain.kind };
    },
    { rows: stream.rows.slice(0, 1) },
  );
  expect(outcome).toEqual({
    constant: { input: true, state: false, code: 'CONSTANT_INPUT', field: 'sr' },
    state: { input: true, state: false, code: 'UNEXPECTED_FIELD', field: 'h' },
    shape: { input: true, state: false, code: 'TENSOR_SHAPE', field: 'frame' },
    bigint: { input: true, state: false, code: 'UNEXPECTED_FIELD', field: 'extra' },
    disposed: { input: false, state: true, code: 'DISPOSED', field: null },
    other: 'classification',
    plain: 'classification',
  });
});
