import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { pack } from '../src/cli/pack.js';
import { startBundleServer, type BundleServer } from './support/server.js';

// Image inputs in the browser: the digits network with its spec declaring the publisher's
// preprocessing (grey, nearest resize to 8x8, 0-255 scaled to 0-16). Pixels go in as ImageData, an
// ImageBitmap, an OffscreenCanvas or a Uint8Array with its size; the worker preprocesses them, and
// the answer equals the one for the tensor preprocessed by hand.
const APP = fileURLToPath(new URL('../dist/demo/', import.meta.url));
const DIGITS = fileURLToPath(new URL('../models/digits/build/', import.meta.url));
let server: BundleServer;

test.use({ serviceWorkers: 'block' });

test.beforeAll(async () => {
  const source = await mkdtemp(join(tmpdir(), 'ondevice-image-src-'));
  const out = await mkdtemp(join(tmpdir(), 'ondevice-image-'));
  await cp(DIGITS, source, { recursive: true });
  const spec = JSON.parse(await readFile(join(source, 'feature-spec.json'), 'utf8')) as { tensors: Record<string, unknown>[] };
  spec.tensors[0]!.image = { layout: 'NCHW', channels: 'L', resize: 'nearest', scale: 16 / 255 };
  await writeFile(join(source, 'feature-spec.json'), JSON.stringify(spec));
  await pack({ source, out });
  server = await startBundleServer(APP, out);
});

test.afterAll(() => server.close());

test('pixels as ImageData, an ImageBitmap, an OffscreenCanvas and a Uint8Array give the answer of the tensor preprocessed by hand', async ({
  page,
}) => {
  await page.goto(`${server.origin}/harness.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const result = await page.evaluate(async () => {
    const model = await window.ondevice.load('/deploy/digits/channel.json');
    // A digit as 8x8 grey levels, drawn at 32x32 (4x4 blocks: nearest resizing takes each block's value).
    const grey = Array.from({ length: 64 }, (_, i) => (((i * 37) % 17) * 255) / 16).map(Math.round);
    const rgba = new Uint8ClampedArray(32 * 32 * 4);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) {
        const g = grey[Math.floor(y / 4) * 8 + Math.floor(x / 4)]!;
        rgba.set([g, g, g, 255], (y * 32 + x) * 4);
      }
    const imageData = new ImageData(rgba, 32, 32);
    const canvas = new OffscreenCanvas(32, 32);
    canvas.getContext('2d')!.putImageData(imageData, 0, 0);
    const byHand = Float32Array.from(grey, (g) => (g * 16) / 255);
    const probabilities = async (image: unknown) => {
      const p = await model.predict({ image });
      return p.kind === 'classification' ? Object.values(p.probabilities) : [];
    };
    const expected = await probabilities(byHand);
    const answers = {
      imageData: await probabilities(imageData),
      bitmap: await probabilities(await createImageBitmap(imageData)),
      canvas: await probabilities(canvas),
      bytes: await probabilities({ data: new Uint8Array(rgba), width: 32, height: 32, channels: 4 }),
    };
    const refused = await model.predict({ image: { data: new Uint8Array(10), width: 32, height: 32 } }).then(
      () => null,
      (e: { name: string; code: string; details: { field: string } }) => ({ name: e.name, code: e.code, field: e.details.field }),
    );
    await model.dispose();
    return { expected, answers, refused };
  });
  for (const [form, answer] of Object.entries(result.answers)) {
    const worst = Math.max(...answer.map((p, i) => Math.abs(p - result.expected[i]!)));
    expect(worst, form).toBeLessThanOrEqual(1e-6);
  }
  expect(result.refused).toEqual({ name: 'InputError', code: 'WRONG_TYPE', field: 'image' });
});
