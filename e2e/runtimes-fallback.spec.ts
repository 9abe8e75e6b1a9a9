import { expect, test } from '@playwright/test';
import { openHarness } from './fixtures.js';

// The config's default Chromium: no `--enable-unsafe-webgpu`, so no WebGPU adapter on this machine.
test.use({ serviceWorkers: 'block' });

const WEBGPU_BUILD = /ort\.webgpu|asyncify|jsep/;

test('without WebGPU, webgpu-then-wasm serves on wasm, records why, and never fetches the WebGPU build; auto never asks for it', async ({
  page,
  context,
}) => {
  const assets: string[] = [];
  await context.route('**/assets/**', (route) => {
    assets.push(new URL(route.request().url()).pathname);
    return route.continue();
  });
  await openHarness(page);
  const outcome = await page.evaluate(async () => {
    const gpu = (navigator as { gpu?: { requestAdapter(): Promise<object | null> } }).gpu;
    const adapter = gpu === undefined ? 'no navigator.gpu' : (await gpu.requestAdapter()) === null ? 'no adapter' : 'adapter';
    const forced = await window.ondevice.load('bundles/penguins/channel.json', { backends: ['webgpu', 'wasm'] });
    const forcedInfo = await forced.info();
    const prediction = await forced.predict({
      island: 'Biscoe',
      sex: null,
      bill_length_mm: 46.5,
      bill_depth_mm: 14.8,
      flipper_length_mm: 215,
      body_mass_g: 5000,
    });
    await forced.dispose();
    const auto = await window.ondevice.load('bundles/digits/channel.json');
    const autoInfo = await auto.info();
    await auto.dispose();
    return {
      adapter,
      forced: forcedInfo.runtime,
      label: prediction.kind === 'classification' ? prediction.label : null,
      auto: autoInfo.runtime,
    };
  });
  expect(outcome.adapter).not.toBe('adapter');
  expect(outcome.forced).toMatchObject({ name: 'onnxruntime-web', backend: 'wasm' });
  expect(outcome.forced.fallbacks).toEqual([{ backend: 'webgpu', reason: expect.stringMatching(/^WebGPU is not available: .+/) }]);
  expect(outcome.label).toBe('Gentoo');
  expect(outcome.auto).toMatchObject({ name: 'onnxruntime-web', backend: 'wasm', fallbacks: [] });
  // The probe fails before the import: neither the forced nor the default load downloads the WebGPU build.
  expect(assets.some((path) => /ort\.wasm\.bundle/.test(path))).toBe(true);
  expect(assets.filter((path) => WEBGPU_BUILD.test(path))).toEqual([]);
  test.info().annotations.push({ type: 'fallback', description: `${outcome.adapter}: ${outcome.forced.fallbacks[0]!.reason}` });
  console.log(`${outcome.adapter}: ${outcome.forced.fallbacks[0]!.reason}`);
});
