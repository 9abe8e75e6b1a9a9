import { InputError } from '../errors/index.js';
import type { TensorData } from '../runtimes/index.js';
import type { ImagePreprocessing, TensorInputSpec } from './spec.js';

/**
 * Image inputs: pixels in (`ImageData`, an `ImageBitmap`, or `{ data, width, height, channels? }`
 * with 8-bit values), the publisher's preprocessing run here, in the worker, and its float tensor
 * out: resize to the model's height and width (bilinear with half-pixel centres, as TensorFlow's
 * `tf.image.resize` and PyTorch's `interpolate(align_corners=False)`, or nearest), channels picked
 * (RGB, BGR, or luminance), then `(value * scale - mean) / std` per channel, laid out NHWC or NCHW.
 */
export interface Pixels {
  readonly data: ArrayLike<number>;
  readonly width: number;
  readonly height: number;
  /** Values per pixel in `data`: 4 (RGBA, as canvases give), 3 (RGB) or 1 (grey). */
  readonly channels: number;
}

/** The model input's height, width and channels, from the spec's shape and layout. */
export function imageSize(tensor: TensorInputSpec, image: ImagePreprocessing): { height: number; width: number; channels: number } {
  const dims = tensor.shape.filter((_, k) => k !== tensor.batchAxis) as number[];
  return image.layout === 'NHWC'
    ? { height: dims[0]!, width: dims[1]!, channels: dims[2]! }
    : { height: dims[1]!, width: dims[2]!, channels: dims[0]! };
}

/** The pixels a row's value holds, or undefined when it is not an image (a ready tensor, say). */
export function readPixels(value: unknown, field: string, row: number): Pixels | undefined {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || Array.isArray(value)) return undefined;
  const Bitmap = (globalThis as { ImageBitmap?: abstract new () => object }).ImageBitmap;
  if (Bitmap !== undefined && value instanceof Bitmap) return bitmapPixels(value as ImageBitmap, field, row);
  const { data, width, height, channels } = value as Partial<Record<'data' | 'width' | 'height' | 'channels', unknown>>;
  if (width === undefined || height === undefined) return undefined;
  const fail = (why: string): never => {
    throw new InputError('WRONG_TYPE', `input "${field}" ${why}`, { row, field, expected: 'image' });
  };
  if (!isSize(width) || !isSize(height)) return fail('must have a whole width and height of at least 1');
  const values =
    data instanceof Uint8Array || data instanceof Uint8ClampedArray || Array.isArray(data)
      ? data
      : fail('needs its pixels as a Uint8Array, Uint8ClampedArray or array in "data"');
  const per = channels ?? values.length / (width * height);
  if (per !== 1 && per !== 3 && per !== 4) return fail(`has ${values.length} values for ${width} x ${height} pixels: 1, 3 or 4 per pixel`);
  if (values.length !== width * height * per) return fail(`has ${values.length} values; ${width} x ${height} x ${per} expected`);
  if (Array.isArray(values) && !values.every((v) => typeof v === 'number' && v >= 0 && v <= 255))
    return fail('pixel values must be numbers from 0 to 255');
  return { data: values, width, height, channels: per };
}

function isSize(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 16384;
}

function bitmapPixels(bitmap: ImageBitmap, field: string, row: number): Pixels {
  const Canvas = (globalThis as { OffscreenCanvas?: new (w: number, h: number) => OffscreenCanvas }).OffscreenCanvas;
  const context = Canvas === undefined ? null : new Canvas(bitmap.width, bitmap.height).getContext('2d', { willReadFrequently: true });
  if (context === null) {
    throw new InputError(
      'WRONG_TYPE',
      `input "${field}": this engine cannot read an ImageBitmap's pixels in a worker (no OffscreenCanvas 2D): send ImageData`,
      {
        row,
        field,
        expected: 'image',
      },
    );
  }
  context.drawImage(bitmap, 0, 0);
  const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return { data, width, height, channels: 4 };
}

/** The preprocessed example: resized, channels picked, scaled and normalised, in the model's layout. */
export function preprocess(
  pixels: Pixels,
  tensor: TensorInputSpec,
  image: ImagePreprocessing,
  out: Float32Array | Float64Array,
): TensorData {
  const { height, width, channels } = imageSize(tensor, image);
  const pick = channelSources(image.channels, pixels.channels);
  const ys = axisWeights(pixels.height, height, image);
  const xs = axisWeights(pixels.width, width, image);
  const { data } = pixels;
  const stride = pixels.width * pixels.channels;
  for (let y = 0; y < height; y++) {
    const [y0, y1, fy] = [ys.lower[y]! * stride, ys.upper[y]! * stride, ys.lerp[y]!];
    for (let x = 0; x < width; x++) {
      const [x0, x1, fx] = [xs.lower[x]! * pixels.channels, xs.upper[x]! * pixels.channels, xs.lerp[x]!];
      for (let c = 0; c < channels; c++) {
        const v = sample(data, pick[c]!, y0, y1, fy, x0, x1, fx);
        const at = image.layout === 'NHWC' ? (y * width + x) * channels + c : (c * height + y) * width + x;
        out[at] = (v * image.scale - image.mean[c]!) / image.std[c]!;
      }
    }
  }
  return out;
}

/** A channel's value at the interpolated point: `sources` are the source channels it is made from, with their weights. */
function sample(
  data: ArrayLike<number>,
  sources: readonly (readonly [number, number])[],
  y0: number,
  y1: number,
  fy: number,
  x0: number,
  x1: number,
  fx: number,
): number {
  let v = 0;
  for (const [channel, weight] of sources) {
    const top = data[y0 + x0 + channel]! + (data[y0 + x1 + channel]! - data[y0 + x0 + channel]!) * fx;
    const bottom = data[y1 + x0 + channel]! + (data[y1 + x1 + channel]! - data[y1 + x0 + channel]!) * fx;
    v += weight * (top + (bottom - top) * fy);
  }
  return v;
}

/** Per target channel, the source channels and weights it is made of (ITU-R 601 luminance for L, as PIL's convert('L')). */
function channelSources(target: ImagePreprocessing['channels'], source: number): (readonly (readonly [number, number])[])[] {
  if (source === 1) return target === 'L' ? [[[0, 1]]] : [[[0, 1]], [[0, 1]], [[0, 1]]];
  if (target === 'L')
    return [
      [
        [0, 0.299],
        [1, 0.587],
        [2, 0.114],
      ],
    ];
  return target === 'RGB' ? [[[0, 1]], [[1, 1]], [[2, 1]]] : [[[2, 1]], [[1, 1]], [[0, 1]]];
}

/**
 * TensorFlow's resize weights along one axis: half-pixel centres, or corners aligned (the legacy
 * `align_corners=True`: the first and last pixels map to each other); nearest rounds down.
 */
function axisWeights(
  from: number,
  to: number,
  { resize, alignCorners }: Pick<ImagePreprocessing, 'resize' | 'alignCorners'>,
): { lower: Int32Array; upper: Int32Array; lerp: Float64Array } {
  const lower = new Int32Array(to);
  const upper = new Int32Array(to);
  const lerp = new Float64Array(to);
  const aligned = alignCorners && to > 1;
  const scale = aligned ? (from - 1) / (to - 1) : from / to;
  for (let i = 0; i < to; i++) {
    if (resize === 'nearest') {
      lower[i] = upper[i] = Math.min(from - 1, aligned ? Math.round(i * scale) : Math.floor((i + 0.5) * scale));
      continue;
    }
    const at = aligned ? i * scale : (i + 0.5) * scale - 0.5;
    const floor = Math.floor(at);
    lower[i] = Math.max(floor, 0);
    upper[i] = Math.min(Math.ceil(at), from - 1);
    lerp[i] = at - floor;
  }
  return { lower, upper, lerp };
}
