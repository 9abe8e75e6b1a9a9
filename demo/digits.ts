import { renderBars } from './bars.js';
import { load, OndeviceError, type OndeviceModel, type Prediction } from '../src/index.js';

/**
 * "Draw a digit": a canvas turned into the 8x8 image the digits CNN was trained on. The training
 * data (UCI optical digits) were 32x32 bitmaps, normalised in size and counted in 4x4 blocks
 * (0..16 ink per cell): the drawing is cropped to its ink, scaled to fit 32x32 and counted the same way.
 */
const CHANNEL = 'bundles/digits/channel.json';
const GRID = 8;

export async function startDigits(root: HTMLElement): Promise<void> {
  const canvas = root.querySelector<HTMLCanvasElement>('canvas')!;
  const preview = root.querySelector<HTMLCanvasElement>('canvas.preview')!;
  const bars = root.querySelector<HTMLDivElement>('.bars')!;
  const label = root.querySelector<HTMLElement>('.label')!;
  const status = root.querySelector<HTMLElement>('.status')!;
  const context = canvas.getContext('2d', { willReadFrequently: true })!;
  clear(context, canvas);

  let model: OndeviceModel;
  try {
    model = await load(CHANNEL);
  } catch (error) {
    status.textContent = `digits model refused: ${error instanceof OndeviceError ? `${error.message} [${error.code}]` : String(error)}`;
    return;
  }
  const info = await model.info();
  status.textContent = `${info.name} ${info.version} · ${info.runtime.name} (${info.runtime.backend}) · gate ${info.gate.passed ? 'passed' : 'failed'}: ${info.gate.metric?.name ?? 'no metric'} ${info.gate.metric?.value.toFixed(3) ?? ''}`;
  root.dataset.state = 'ready';

  let drawing = false;
  let pending: Promise<void> = Promise.resolve();
  const predict = (): void => {
    const image = toDigitImage(context, canvas);
    drawPreview(preview, image);
    if (image === undefined) {
      label.textContent = '—';
      bars.replaceChildren();
      return;
    }
    pending = pending.then(async () => {
      const prediction = await model.predict({ image });
      showDigits(prediction, label, bars);
      root.dataset.predictions = String(Number(root.dataset.predictions ?? 0) + 1);
    });
  };
  const point = (event: PointerEvent): [number, number] => {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * canvas.width, ((event.clientY - box.top) / box.height) * canvas.height];
  };
  canvas.addEventListener('pointerdown', (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    context.beginPath();
    context.moveTo(...point(event));
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    context.lineTo(...point(event));
    context.stroke();
  });
  const finish = (): void => {
    if (!drawing) return;
    drawing = false;
    predict();
  };
  canvas.addEventListener('pointerup', finish);
  canvas.addEventListener('pointercancel', finish);
  root.querySelector('button.clear')!.addEventListener('click', () => {
    clear(context, canvas);
    predict();
  });
}

function clear(context: CanvasRenderingContext2D, canvas: HTMLCanvasElement): void {
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.strokeStyle = '#000';
  context.lineWidth = canvas.width / 14;
  context.lineCap = 'round';
  context.lineJoin = 'round';
}

/** 64 values 0..16, row-major, or undefined for an empty canvas. */
function toDigitImage(context: CanvasRenderingContext2D, canvas: HTMLCanvasElement): Float32Array | undefined {
  const { data, width, height } = context.getImageData(0, 0, canvas.width, canvas.height);
  let top = height;
  let left = width;
  let bottom = -1;
  let right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4]! < 128) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return undefined;
  // Fit the ink's bounding box into 32x32, keeping its aspect ratio, centred.
  const side = Math.max(bottom - top + 1, right - left + 1);
  const scaled = new OffscreenCanvas(32, 32);
  const small = scaled.getContext('2d', { willReadFrequently: true })!;
  small.fillStyle = '#fff';
  small.fillRect(0, 0, 32, 32);
  const cx = (left + right + 1) / 2;
  const cy = (top + bottom + 1) / 2;
  small.drawImage(canvas, cx - side / 2, cy - side / 2, side, side, 0, 0, 32, 32);
  const bitmap = small.getImageData(0, 0, 32, 32).data;
  const image = new Float32Array(GRID * GRID);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      if (bitmap[(y * 32 + x) * 4]! < 128) image[Math.floor(y / 4) * GRID + Math.floor(x / 4)]! += 1;
    }
  }
  return image;
}

function drawPreview(canvas: HTMLCanvasElement, image: Float32Array | undefined): void {
  const context = canvas.getContext('2d')!;
  const cell = canvas.width / GRID;
  for (let i = 0; i < GRID * GRID; i++) {
    const shade = 255 - Math.round(((image?.[i] ?? 0) / 16) * 255);
    context.fillStyle = `rgb(${shade}, ${shade}, ${shade})`;
    context.fillRect((i % GRID) * cell, Math.floor(i / GRID) * cell, cell, cell);
  }
}

function showDigits(prediction: Prediction, label: HTMLElement, bars: HTMLElement): void {
  if (prediction.kind !== 'classification') return;
  label.textContent = prediction.label;
  renderBars(bars, prediction.probabilities);
}
