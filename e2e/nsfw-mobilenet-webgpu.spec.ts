import { expect, test } from '@playwright/test';
import config from '../playwright.config.js';
import { openHarness } from './fixtures.js';
import { nsfwParity, nsfwPictures } from './support/nsfw.js';

// Chromium with a WebGPU adapter (on a machine without a GPU, Dawn's software adapter): TensorFlow.js's
// `auto` tries WebGPU first for the convolutional nsfw-mobilenet, and its answers are checked against
// TensorFlow.js in Node (cpu backend) within the bundle's tolerance. Not timed: the adapter is software.
const base = config.use?.launchOptions ?? {};
test.use({ serviceWorkers: 'block', launchOptions: { ...base, args: [...(base.args ?? []), '--enable-unsafe-webgpu'] } });

const parity = nsfwParity;

test('nsfw-mobilenet: auto tries WebGPU first for a convolutional network and answers within the tolerance', async ({ page }) => {
  test.setTimeout(400_000);
  await openHarness(page);
  const rows = nsfwPictures();
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
    { channel: 'bundles/nsfw-mobilenet/channel.json', rows },
  );
  expect(auto.info.gate.passed).toBe(true);
  const tried = [...auto.info.runtime.fallbacks.map((f) => f.backend), auto.info.runtime.backend];
  expect(tried[0]).toBe('webgpu');
  const reference = [...parity.pretrained.outputs.probabilities!, ...parity.pretrained.e2e.probabilities];
  const classes = auto.info.task.kind === 'classification' ? auto.info.task.classes : [];
  let max = 0;
  auto.predictions.forEach((prediction, r) => {
    if (prediction.kind !== 'classification') throw new Error(prediction.kind);
    reference[r]!.forEach((p, c) => (max = Math.max(max, Math.abs(prediction.probabilities[classes[c]!]! - p))));
  });
  expect(max).toBeLessThanOrEqual(auto.info.gate.endToEnd.tolerance);
  const description = `nsfw-mobilenet with --enable-unsafe-webgpu: served on ${auto.info.runtime.backend} (fallbacks ${JSON.stringify(auto.info.runtime.fallbacks)}), max difference vs tfjs cpu in Node ${max.toExponential(2)}`;
  test.info().annotations.push({ type: 'parity', description });
  console.log(description);
});
