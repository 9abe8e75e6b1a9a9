import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseJsonBytes } from '../src/bundle/index.js';
import { readSetFile } from '../src/gate/index.js';
import type { PretrainedParityFile } from '../test/parity.js';
import { openHarness } from './fixtures.js';

// A pretrained TensorFlow.js graph model taken from the nsfwjs package on the npm registry
// (models/nsfw-mobilenet): the bundle loads in the worker, passes its gate, and answers as
// TensorFlow.js in Node (cpu backend, the reference) within the bundle's tolerance. Then one
// picture's predict() against a bare TensorFlow.js executing the same model.json in a worker of the
// same page, on the main thread (the same wasm backend, one thread).
test.use({ serviceWorkers: 'block' });

const BUILD = new URL('../models/nsfw-mobilenet/build/', import.meta.url);
const parity = JSON.parse(readFileSync(new URL('parity.json', BUILD), 'utf8')) as PretrainedParityFile;
const rowsOf = (file: string): Float32Array[] =>
  (readSetFile(new Uint8Array(readFileSync(new URL(file, BUILD))), file, parseJsonBytes) as { rows: { input: Float32Array }[] }).rows.map(
    (row) => row.input,
  );
const CHANNEL = 'bundles/nsfw-mobilenet/channel.json';

/** What the rival uses of the global `tf` TensorFlow.js's browser builds define. */
interface BareTf {
  wasm: { setWasmPaths(prefix: string): void };
  env(): { set(flag: string, value: boolean): void };
  setBackend(name: string): Promise<boolean>;
  getBackend(): string;
  loadGraphModel(url: string): Promise<{ executeAsync(input: unknown): Promise<{ dataSync(): Float32Array }> }>;
  tensor(values: Float32Array, shape: number[]): unknown;
  dispose(tensors: unknown[]): void;
}

/** TensorFlow.js's own browser builds and wasm binaries, served to the bare rival's worker from node_modules. */
const DIRECT: Record<string, string> = {
  'tf-core.js': '@tensorflow/tfjs-core/dist/tf-core.min.js',
  'tf-converter.js': '@tensorflow/tfjs-converter/dist/tf-converter.min.js',
  'tf-backend-wasm.js': '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js',
  'tfjs-backend-wasm.wasm': '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm': '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
};

test('nsfw-mobilenet (TF.js graph model, 2 shards): gate passes in Chromium and matches tfjs in Node; predict() vs bare executeAsync', async ({
  page,
  context,
}) => {
  test.setTimeout(120_000);
  await context.route('**/direct-tfjs/*', (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop()!;
    const file = DIRECT[name];
    if (file === undefined) return route.fulfill({ status: 404 });
    return route.fulfill({
      body: readFileSync(fileURLToPath(new URL(`../node_modules/${file}`, import.meta.url))),
      contentType: name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript',
      headers: { 'Cross-Origin-Resource-Policy': 'same-origin' },
    });
  });
  await openHarness(page);
  const rows = [...rowsOf(parity.pretrained.set), ...rowsOf(parity.pretrained.e2e.set)].map((image) => Array.from(image));
  const result = await page.evaluate(
    async ({ channel, rows }) => {
      const model = await window.ondevice.load(channel);
      const info = await model.info();
      const predictions = await model.predictBatch(rows.map((image) => ({ input: new Float32Array(image) })));
      const one = { input: new Float32Array(rows[0]!) };
      for (let i = 0; i < 3; i++) await model.predict(one);
      const times: number[] = [];
      for (let i = 0; i < 15; i++) {
        const start = performance.now();
        await model.predict(one);
        times.push(performance.now() - start);
      }
      await model.dispose();
      return { info, predictions, times };
    },
    { channel: CHANNEL, rows },
  );
  expect(result.info.gate.passed).toBe(true);
  expect(result.info.runtime).toMatchObject({ name: 'tensorflow-js', backend: 'wasm' });
  expect(result.info.gate.checks).toMatchObject({ passed: true });

  const reference = [...parity.pretrained.outputs.probabilities!, ...parity.pretrained.e2e.probabilities];
  const classes = result.info.task.kind === 'classification' ? result.info.task.classes : [];
  let max = 0;
  result.predictions.forEach((prediction, r) => {
    if (prediction.kind !== 'classification') throw new Error(prediction.kind);
    reference[r]!.forEach((p, c) => (max = Math.max(max, Math.abs(prediction.probabilities[classes[c]!]! - p))));
  });
  expect(max).toBeLessThanOrEqual(result.info.gate.endToEnd.tolerance);

  // The rival: TensorFlow.js's own browser builds on the page itself, fed the same picture.
  for (const name of ['tf-core.js', 'tf-converter.js', 'tf-backend-wasm.js'])
    await page.addScriptTag({ path: fileURLToPath(new URL(`../node_modules/${DIRECT[name]!}`, import.meta.url)) });
  const bare = await page.evaluate(
    async ({ image, version }) => {
      const tf = (window as unknown as { tf: BareTf }).tf;
      try {
        tf.wasm.setWasmPaths(`${location.origin}/direct-tfjs/`);
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
        await tf.setBackend('wasm');
        const model = await tf.loadGraphModel(`${location.origin}/bundles/nsfw-mobilenet/${version}/model.json`);
        const picture = new Float32Array(image);
        const once = async (): Promise<Float32Array> => {
          const input = tf.tensor(picture, [1, 224, 224, 3]);
          const output = await model.executeAsync(input);
          const values = output.dataSync().slice();
          tf.dispose([input, output]);
          return values;
        };
        let values: Float32Array = new Float32Array(0);
        for (let i = 0; i < 3; i++) values = await once();
        const times: number[] = [];
        for (let i = 0; i < 15; i++) {
          const start = performance.now();
          await once();
          times.push(performance.now() - start);
        }
        return { backend: tf.getBackend(), values: Array.from(values), times };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { image: rows[0]!, version: result.info.version },
  );
  expect(bare.error).toBeUndefined();
  expect(bare.backend).toBe('wasm');
  // The bare rival answers as ondevice does: the same runtime, backend and model.
  const first = result.predictions[0]!;
  if (first.kind !== 'classification') throw new Error(first.kind);
  bare.values!.forEach((p, c) => expect(Math.abs(first.probabilities[classes[c]!]! - p)).toBeLessThanOrEqual(1e-6));

  const median = (times: readonly number[]): number => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  const ondeviceMs = median(result.times);
  const bareMs = median(bare.times!);
  const sets = result.info.bundleBytes;
  const description =
    `nsfw-mobilenet (tensorflow-js/wasm, Chromium): ${result.predictions.length} pictures, max difference vs tfjs cpu in Node ${max.toExponential(2)} ` +
    `(tolerance ${result.info.gate.endToEnd.tolerance}); bundle ${sets} bytes; predict() median ${ondeviceMs.toFixed(1)} ms vs bare executeAsync ` +
    `on the page ${bareMs.toFixed(1)} ms (ratio ${(ondeviceMs / bareMs).toFixed(3)}, one run, 15 calls each)`;
  test.info().annotations.push({ type: 'parity', description });
  console.log(description);
});
