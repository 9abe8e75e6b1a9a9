import { readFileSync } from 'node:fs';
import { test } from '@playwright/test';
import { openHarness } from './fixtures.js';
test.use({ serviceWorkers: 'block' });
const src = JSON.parse(readFileSync(new URL('../models/house-prices/build/gradient-boosting/confidence-set.json', import.meta.url), 'utf8')).rows as Record<string, unknown>[];
test('probe', async ({ page }) => {
  test.setTimeout(180_000);
  await openHarness(page);
  const out = await page.evaluate(async (source) => {
    const lines: string[] = [];
    for (const [label, options] of [['1024', {}], ['2048', { batching: { maxBatch: 2048 } }], ['4096', { batching: { maxBatch: 4096 } }], ['1024', {}], ['2048', { batching: { maxBatch: 2048 } }], ['4096', { batching: { maxBatch: 4096 } }]] as const) {
      const model = await window.ondevice.load('bundles/house-prices-gradient-boosting/channel.json', { checkForUpdates: false, ...options });
      const times: number[] = [];
      for (let k = 0; k < 9; k++) {
        const rows = Array.from({ length: 10_000 }, (_, i) => ({ ...source[i % source.length]! }));
        const t0 = performance.now();
        await Promise.all(rows.map((r) => model.predict(r)));
        times.push(performance.now() - t0);
      }
      const t1 = performance.now();
      for (let k = 0; k < 10; k++) await model.predictBatch(Array.from({ length: 1024 }, (_, i) => source[i % source.length]!));
      times.sort((a, b) => a - b); lines.push(`${label}: median ${times[4]!.toFixed(0)} | ${times.map((t) => t.toFixed(0)).join(' ')}; 10 x predictBatch(1024) ${(performance.now() - t1).toFixed(0)}`);
      await model.dispose();
    }
    return lines;
  }, src);
  console.log(out.join('\n'));
});
