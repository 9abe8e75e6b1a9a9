// Session steps against a bare onnxruntime-web session.run, in one page, one run each (npm run bench:stream).
// The built demo (npm run build) is served as a host would; the tone detector's parity stream is fed
// frame by frame: through `model.session()` (the worker keeps the state), and through `session.run`
// on the page's main thread with the state carried by hand (the least an app could do).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../e2e/support/chromium.js';
import { startStaticServer } from '../e2e/support/static-server.js';

const STEPS = Number(process.env.STREAM_STEPS ?? 2000);
const root = fileURLToPath(new URL('../dist/demo/', import.meta.url));
const parity = JSON.parse(await readFile(new URL('../models/tone-detector/build/parity.json', import.meta.url), 'utf8')) as {
  stream: { rows: { frame: number[] }[] };
};
const server = await startStaticServer(root);
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
try {
  const page = await browser.newPage();
  // tsx keeps function names with a helper the page does not have: give it one.
  await page.addInitScript('window.__name = (f) => f');
  await page.goto(`${server.origin}/harness.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const result = await page.evaluate(
    async ({ frames, steps }) => {
      const rows = frames.map((f) => Float32Array.from(f));
      const model = await window.ondevice.load('bundles/tone-detector/channel.json', { threads: 1 });
      const session = await model.session();
      const ort = await window.ondeviceTesting.ort();
      ort.env.wasm.numThreads = 1;
      const manifestUrl = new URL('bundles/tone-detector/1.0.0/model.onnx', location.href);
      const bare = await ort.InferenceSession.create(new Uint8Array(await (await fetch(manifestUrl)).arrayBuffer()), {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
      });
      const sr = new ort.Tensor('int64', BigInt64Array.from([8000n]), []);
      let h = new ort.Tensor('float32', new Float32Array(48), [2, 1, 24]);
      const bareStep = async (i: number) => {
        const out = await bare.run({ frame: new ort.Tensor('float32', rows[i % rows.length]!, [1, 64]), sr, h });
        h = out.hn!;
        return out.probability!.data[0];
      };
      const ondeviceStep = (i: number) => session.predict({ frame: rows[i % rows.length]! });
      const time = async (step: (i: number) => Promise<unknown>) => {
        for (let i = 0; i < 200; i++) await step(i); // warm-up
        const start = performance.now();
        for (let i = 0; i < steps; i++) await step(i);
        return (performance.now() - start) / steps;
      };
      // Alternated twice, so neither side always runs on a warmer machine.
      const a1 = await time(ondeviceStep);
      const b1 = await time(bareStep);
      const a2 = await time(ondeviceStep);
      const b2 = await time(bareStep);
      await session.dispose();
      await model.dispose();
      return { ondevice: (a1 + a2) / 2, bare: (b1 + b2) / 2, crossOriginIsolated };
    },
    { frames: parity.stream.rows.map((r) => r.frame), steps: STEPS },
  );
  const ratio = result.ondevice / result.bare;
  console.log(
    `tone-detector session step, ${STEPS} steps x2: ondevice session.predict (worker) ${(result.ondevice * 1000).toFixed(0)} µs, ` +
      `bare session.run (main thread, state carried by hand) ${(result.bare * 1000).toFixed(0)} µs: ratio ${ratio.toFixed(2)} ` +
      `(one thread each; cross-origin isolated: ${result.crossOriginIsolated})`,
  );
} finally {
  await browser.close();
  await server.close();
}
