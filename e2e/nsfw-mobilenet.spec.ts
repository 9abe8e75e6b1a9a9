import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openHarness } from './fixtures.js';
import { nsfwParity, nsfwPictures } from './support/nsfw.js';

// A pretrained TensorFlow.js graph model taken from the nsfwjs package on the npm registry
// (models/nsfw-mobilenet): the bundle loads in the worker, passes its gate, and answers as
// TensorFlow.js in Node (cpu backend, the reference) within the bundle's tolerance. Then one
// picture's predict() against a bare TensorFlow.js executing the same model.json in a worker of the
// same page, on the main thread (the same wasm backend, one thread).
test.use({ serviceWorkers: 'block' });

const parity = nsfwParity;
const CHANNEL = 'bundles/nsfw-mobilenet/channel.json';
const REFERENCE = [...parity.pretrained.outputs.probabilities!, ...parity.pretrained.e2e.probabilities];

/** Largest |browser - tfjs cpu in Node| over every probability of the confidence rows, then the end-to-end rows. */
function maxDifference(
  predictions: readonly { kind: string; probabilities?: Readonly<Record<string, number>> }[],
  task: { kind: string; classes?: readonly string[] },
): number {
  let max = 0;
  predictions.forEach((prediction, r) => {
    if (prediction.kind !== 'classification') throw new Error(prediction.kind);
    REFERENCE[r]!.forEach((p, c) => (max = Math.max(max, Math.abs(prediction.probabilities![task.classes![c]!]! - p))));
  });
  return max;
}

/** What the rival uses of the global `tf` TensorFlow.js's browser builds define. */
interface BareTf {
  wasm: { setWasmPaths(prefix: string): void };
  env(): { set(flag: string, value: boolean): void };
  setBackend(name: string): Promise<boolean>;
  getBackend(): string;
  loadGraphModel(url: string): Promise<{ predict(input: unknown): { dataSync(): Float32Array } }>;
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

test('nsfw-mobilenet (TF.js graph model, 2 shards): gate passes in Chromium and matches tfjs in Node; predict() vs bare model.predict', async ({
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
  const rows = nsfwPictures();
  // auto: a convolutional network goes to a GPU where the worker has one (here WebGL 2 on SwiftShader;
  // no WebGPU adapter without --enable-unsafe-webgpu): results checked, not timed.
  const auto = await page.evaluate(
    async ({ channel, rows }) => {
      const model = await window.ondevice.load(channel);
      const info = await model.info();
      const predictions = await model.predictBatch(
        rows.map((p) => ({ input: { data: new Uint8Array(p.data), width: p.width, height: p.height, channels: 3 } })),
      );
      await model.dispose();
      return { info, predictions };
    },
    { channel: CHANNEL, rows },
  );
  expect(auto.info.gate.passed).toBe(true);
  expect(auto.info.runtime.backendReason).toMatch(/^a convolutional network \(52 convolutions\)/);
  const autoMax = maxDifference(auto.predictions, auto.info.task);
  expect(autoMax).toBeLessThanOrEqual(auto.info.gate.endToEnd.tolerance);

  // wasm, as `ondevice verify` runs it in Node, beside the rival: TensorFlow.js's own browser builds on
  // the page itself, the same model.json on the same backend (one thread). The two alternate call by
  // call on the same picture, so that the machine's load falls on both alike.
  for (const name of ['tf-core.js', 'tf-converter.js', 'tf-backend-wasm.js'])
    await page.addScriptTag({ path: fileURLToPath(new URL(`../node_modules/${DIRECT[name]!}`, import.meta.url)) });
  const result = await page.evaluate(
    async ({ channel, rows }) => {
      const model = await window.ondevice.load(channel, { backends: ['wasm'] });
      const info = await model.info();
      const predictions = await model.predictBatch(
        rows.map((p) => ({ input: { data: new Uint8Array(p.data), width: p.width, height: p.height, channels: 3 } })),
      );
      const tf = (window as unknown as { tf: BareTf }).tf;
      tf.wasm.setWasmPaths(`${location.origin}/direct-tfjs/`);
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      await tf.setBackend('wasm');
      const graph = await tf.loadGraphModel(`${location.origin}/bundles/nsfw-mobilenet/${info.version}/model.json`);
      // A 224x224 picture: the app's own preprocessing for the bare model is the package's, pixels / 255.
      const pixels = new Uint8Array(rows[0]!.data);
      const bareOnce = async (): Promise<Float32Array> => {
        const input = tf.tensor(
          Float32Array.from(pixels, (v) => v / 255),
          [1, 224, 224, 3],
        );
        const output = graph.predict(input);
        const values = output.dataSync().slice();
        tf.dispose([input, output]);
        return values;
      };
      const one = { input: { data: pixels, width: 224, height: 224, channels: 3 } };
      let bare: Float32Array = new Float32Array(0);
      for (let i = 0; i < 3; i++) {
        await model.predict(one);
        bare = await bareOnce();
      }
      const times = { ondevice: [] as number[], bare: [] as number[] };
      for (let i = 0; i < 20; i++) {
        let start = performance.now();
        await model.predict(one);
        times.ondevice.push(performance.now() - start);
        start = performance.now();
        await bareOnce();
        times.bare.push(performance.now() - start);
      }
      await model.dispose();
      return { info, predictions, times, bare: { backend: tf.getBackend(), values: Array.from(bare) } };
    },
    { channel: CHANNEL, rows },
  );
  expect(result.info.gate.passed).toBe(true);
  expect(result.info.runtime).toMatchObject({ name: 'tensorflow-js', backend: 'wasm' });
  expect(result.info.gate.checks).toMatchObject({ passed: true });

  const classes = result.info.task.kind === 'classification' ? result.info.task.classes : [];
  const max = maxDifference(result.predictions, result.info.task);
  expect(max).toBeLessThanOrEqual(result.info.gate.endToEnd.tolerance);
  expect(result.bare.backend).toBe('wasm');
  // The bare rival answers as ondevice does: the same runtime, backend and model.
  const first = result.predictions[0]!;
  if (first.kind !== 'classification') throw new Error(first.kind);
  result.bare.values.forEach((p, c) => expect(Math.abs(first.probabilities[classes[c]!]! - p)).toBeLessThanOrEqual(1e-6));

  const median = (times: readonly number[]): number => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  const ondeviceMs = median(result.times.ondevice);
  const bareMs = median(result.times.bare);
  const sets = result.info.bundleBytes;
  const description =
    `nsfw-mobilenet (Chromium): auto chose ${auto.info.runtime.backend} (fallbacks ${JSON.stringify(auto.info.runtime.fallbacks)}), max difference vs tfjs cpu in Node ${autoMax.toExponential(2)}; ` +
    `wasm: ${result.predictions.length} pictures, max difference ${max.toExponential(2)} ` +
    `(tolerance ${result.info.gate.endToEnd.tolerance}); bundle ${sets} bytes; predict() median ${ondeviceMs.toFixed(1)} ms vs bare GraphModel.predict ` +
    `on the page ${bareMs.toFixed(1)} ms (ratio ${(ondeviceMs / bareMs).toFixed(3)}, one run, 20 calls each, alternating)`;
  test.info().annotations.push({ type: 'parity', description });
  console.log(description);
});
