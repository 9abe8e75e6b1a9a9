import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { BundleError, InputError } from '../src/errors/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { caught } from './helpers.js';

// Image inputs: the worker's preprocessing against TensorFlow.js's own (tf.image.resizeBilinear /
// resizeNearestNeighbor with half-pixel centres, then scale and per-channel normalisation).
const header = { format: 'ondevice/feature-spec', formatVersion: 1, name: 'i', version: '1.0.0' };
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** Deterministic RGBA pixels. */
function pixels(width: number, height: number, seed: number): Uint8ClampedArray {
  const data = new Uint8ClampedArray(width * height * 4);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    data[i] = i % 4 === 3 ? 255 : s % 256;
  }
  return data;
}

/** TensorFlow.js's preprocessing of the same pixels: RGB, resize, scale, normalise, then the layout asked. */
function reference(
  data: Uint8ClampedArray,
  width: number,
  height: number,
  size: number,
  options: { resize: string; layout: string; bgr?: boolean; alignCorners?: boolean },
) {
  return tf.tidy(() => {
    let image = tf.slice(tf.tensor3d(Float32Array.from(data), [height, width, 4]), [0, 0, 0], [height, width, 3]);
    if (options.bgr) image = tf.reverse(image, 2);
    const resized =
      options.resize === 'nearest'
        ? tf.image.resizeNearestNeighbor(image, [size, size], options.alignCorners === true, options.alignCorners !== true)
        : tf.image.resizeBilinear(image, [size, size], options.alignCorners === true, options.alignCorners !== true);
    const mean = options.bgr ? [...MEAN].reverse() : MEAN;
    const std = options.bgr ? [...STD].reverse() : STD;
    const normalised = tf.div(tf.sub(tf.mul(resized, 1 / 255), tf.tensor1d(mean)), tf.tensor1d(std));
    return Array.from((options.layout === 'NCHW' ? tf.transpose(normalised, [2, 0, 1]) : normalised).dataSync());
  });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('image inputs: pixels preprocessed in the worker as the publisher did', () => {
  for (const resize of ['bilinear', 'nearest'] as const)
    for (const layout of ['NHWC', 'NCHW'] as const)
      for (const [width, height] of [
        [57, 41],
        [10, 13],
      ] as const)
        it(`${resize}, ${layout}, ${width}x${height} -> 24x24: equal to TensorFlow.js within 1e-5`, () => {
          const bgr = layout === 'NCHW';
          const mean = bgr ? [...MEAN].reverse() : MEAN;
          const std = bgr ? [...STD].reverse() : STD;
          const shape = layout === 'NHWC' ? ['batch', 24, 24, 3] : ['batch', 3, 24, 24];
          const transform = compileFeatureSpec(
            parseFeatureSpec({
              ...header,
              tensors: [
                {
                  name: 'image',
                  dtype: 'float32',
                  shape,
                  image: { layout, channels: bgr ? 'BGR' : 'RGB', resize, scale: 1 / 255, mean, std },
                },
              ],
            }),
          );
          const data = pixels(width, height, width * 7 + height);
          const { inputs } = transform.prepare([{ image: { data, width, height } }]);
          const expected = reference(data, width, height, 24, { resize, layout, bgr });
          const got = Array.from(inputs.image!.data as Float32Array);
          expect(inputs.image!.dims).toEqual(shape.map((d) => (d === 'batch' ? 1 : d)));
          expect(Math.max(...got.map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThanOrEqual(1e-5);
        });

  for (const resize of ['bilinear', 'nearest'] as const)
    it(`${resize} with corners aligned (TensorFlow's align_corners=True, as nsfwjs resizes): equal to TensorFlow.js within 1e-5`, () => {
      const transform = compileFeatureSpec(
        parseFeatureSpec({
          ...header,
          tensors: [
            {
              name: 'image',
              dtype: 'float32',
              shape: ['batch', 24, 24, 3],
              image: { resize, alignCorners: true, scale: 1 / 255, mean: MEAN, std: STD },
            },
          ],
        }),
      );
      for (const [width, height] of [
        [57, 41],
        [10, 13],
      ] as const) {
        const data = pixels(width, height, width + height);
        const got = Array.from(transform.prepare([{ image: { data, width, height } }]).inputs.image!.data as Float32Array);
        const expected = reference(data, width, height, 24, { resize, layout: 'NHWC', alignCorners: true });
        expect(Math.max(...got.map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThanOrEqual(1e-5);
      }
    });

  it('takes RGB, RGBA and grey pixels, and a ready tensor as before; refuses pixels that do not fit their size', async () => {
    const transform = compileFeatureSpec(
      parseFeatureSpec({ ...header, tensors: [{ name: 'image', dtype: 'float32', shape: ['batch', 2, 2, 3], image: { scale: 1 } }] }),
    );
    const rgb = Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]);
    const rgba = Uint8Array.from([10, 20, 30, 255, 40, 50, 60, 255, 70, 80, 90, 255, 100, 110, 120, 255]);
    const grey = Uint8Array.from([1, 2, 3, 4]);
    const { inputs } = transform.prepare([
      { image: { data: rgb, width: 2, height: 2 } },
      { image: { data: rgba, width: 2, height: 2, channels: 4 } },
      { image: { data: grey, width: 2, height: 2 } },
      { image: new Float32Array(12).fill(7) },
    ]);
    const rows = Array.from(inputs.image!.data as Float32Array);
    expect(rows.slice(0, 12)).toEqual(Array.from(rgb));
    expect(rows.slice(12, 24)).toEqual(Array.from(rgb));
    expect(rows.slice(24, 36)).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
    expect(rows.slice(36)).toEqual(new Array(12).fill(7));
    for (const image of [
      { data: rgb, width: 3, height: 2 },
      { data: [300, 0, 0], width: 1, height: 1 },
      { data: rgb, width: 0, height: 2 },
      { data: 'pixels', width: 2, height: 2 },
    ]) {
      const error = await caught(() => transform.prepare([{ image }]));
      expect(error).toBeInstanceOf(InputError);
      expect(error).toMatchObject({ code: 'WRONG_TYPE', details: { row: 0, field: 'image' } });
    }
  });

  it('refuses a spec whose image does not fit its tensor', async () => {
    const bad = (tensor: Record<string, unknown>) => caught(() => parseFeatureSpec({ ...header, tensors: [{ name: 'image', ...tensor }] }));
    const cases: [Record<string, unknown>, string][] = [
      [{ dtype: 'uint8', shape: ['batch', 2, 2, 3], image: {} }, 'tensors[0].image'],
      [{ dtype: 'float32', shape: ['batch', 2, 2, 1], image: { channels: 'RGB' } }, 'tensors[0].image.layout'],
      [{ dtype: 'float32', shape: ['batch', 2, 2, 3], image: { mean: [0, 0] } }, 'tensors[0].image.mean'],
      [{ dtype: 'float32', shape: ['batch', 2, 2, 3], image: { std: [1, 0, 1] } }, 'tensors[0].image.std'],
      [{ dtype: 'float32', shape: ['batch', 2, 2, 3], image: { resize: 'bicubic' } }, 'tensors[0].image.resize'],
    ];
    for (const [tensor, path] of cases) {
      const error = await caught(() =>
        bad(tensor).then((e) => {
          throw e;
        }),
      );
      expect(error, path).toBeInstanceOf(BundleError);
      expect(error).toMatchObject({ code: 'INVALID_FEATURE_SPEC', details: { path } });
    }
  });
});
