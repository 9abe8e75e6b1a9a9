import { expect, test } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { toVerifyJson, verifyBundle } from '../src/cli/verify.js';
import { buildFolders, compareParity } from '../test/parity.js';
import { openHarness } from './fixtures.js';

// The library directly, without the demo's service worker in the way.
test.use({ serviceWorkers: 'block' });

const folders = await buildFolders();

for (const { name, confidence, parity, card } of folders) {
  test(`${name}: gate passes in Chromium; features and predictions match the research pipeline on the whole confidence set`, async ({
    page,
    context,
  }) => {
    const assets: string[] = [];
    await context.route('**/assets/**', (route) => {
      assets.push(new URL(route.request().url()).pathname);
      return route.continue();
    });
    await openHarness(page);
    const result = await page.evaluate(
      async ({ channel, rows }) => {
        // One thread and TensorFlow.js on its CPU backend: the configuration `ondevice verify` runs in
        // Node, so the two must agree to the last bit (threads sum trees in another order; TF.js WASM
        // rounds differently, within the gate's tolerance).
        const model = await window.ondevice.load(channel, { threads: 1 });
        const info = await model.info();
        const matrix = await model.features(rows);
        const predictions = await model.predictBatch(rows);
        await model.dispose();
        return { info, width: matrix.names.length, features: Array.from(matrix.values), predictions };
      },
      { channel: `bundles/${name}/channel.json`, rows: confidence.rows },
    );
    expect(result.info.gate.passed).toBe(true);
    // `ondevice verify` reaches the same verdict with the same numbers, to the last bit.
    const cli = toVerifyJson(await verifyBundle({ bundle: fileURLToPath(new URL(`../dist/demo/bundles/${name}/`, import.meta.url)) }));
    expect(cli).toEqual({ name, version: result.info.version, manifestSha256: result.info.manifestSha256, gate: result.info.gate });
    const classes = result.info.task.kind === 'classification' ? result.info.task.classes : undefined;
    const report = compareParity(parity.features === null ? undefined : result.features, result.width, result.predictions, classes, parity);
    if (report.maxFeatureDifference !== null) expect(report.maxFeatureDifference).toBeLessThanOrEqual(1e-6);
    expect(report.maxPredictionDifference).toBeLessThanOrEqual(result.info.gate.endToEnd.tolerance);
    test.info().annotations.push({
      type: 'parity',
      description: `${name} (${result.info.runtime.name}/${result.info.runtime.backend}): ${report.rows} rows, max feature diff ${report.maxFeatureDifference}, max prediction diff ${report.maxPredictionDifference.toExponential(2)}, tolerance ${result.info.gate.endToEnd.tolerance}, bundle ${result.info.bundleBytes} bytes`,
    });
    console.log(test.info().annotations.at(-1)!.description);

    // Only the runtime the bundle names is downloaded.
    const other = result.info.runtime.name === 'tensorflow-js' ? /ort[.-]/ : /tfjs/;
    expect(assets.filter((path) => other.test(path))).toEqual([]);
  });
}

test('a wrong tensor shape or dtype crosses the worker boundary as a typed error naming the input', async ({ page }) => {
  await openHarness(page);
  const outcome = await page.evaluate(async () => {
    const { load, InputError } = window.ondevice;
    const model = await load('bundles/digits/channel.json');
    const attempt = async (row: Record<string, unknown>) => {
      try {
        await model.predict(row);
        return null;
      } catch (error) {
        const e = error as InstanceType<typeof InputError>;
        return { isInputError: error instanceof InputError, code: e.code, field: e.details.field };
      }
    };
    const shape = await attempt({ image: new Array(63).fill(0) });
    const dtype = await attempt({ image: new Float64Array(64) });
    const fine = await model.predict({ image: new Float32Array(64) });
    return { shape, dtype, fine: fine.kind };
  });
  expect(outcome).toEqual({
    shape: { isInputError: true, code: 'TENSOR_SHAPE', field: 'image' },
    dtype: { isInputError: true, code: 'TENSOR_DTYPE', field: 'image' },
    fine: 'classification',
  });
});
