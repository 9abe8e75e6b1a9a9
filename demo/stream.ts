import { load, OndeviceError, type ModelSession, type OndeviceModel } from '../src/index.js';

/**
 * "Listen for a tone": a signal generated on the page (noise, and a tone the visitor switches on)
 * streamed frame by frame (64 samples at 8 kHz) through one session of the tone detector, a GRU
 * whose state stays in the worker between steps. The trace shows the probability at every frame;
 * the state's size shows it carried; "Reset" starts the state over.
 */
const CHANNEL = 'bundles/tone-detector/channel.json';
const SAMPLE_RATE = 8000;
const FRAME = 64;
/** Frames per tick: 40 ms of signal, every 40 ms. */
const FRAMES_PER_TICK = 5;
const TRACE = 200;

/** Waits for the first "Listen": the page's other models start first, and a visitor who never listens never loads this one. */
export function startStream(root: HTMLElement): void {
  const run = root.querySelector<HTMLButtonElement>('button.run')!;
  const first = (): void => {
    run.removeEventListener('click', first);
    run.disabled = true;
    void openStream(root).finally(() => (run.disabled = false));
  };
  run.addEventListener('click', first);
}

async function openStream(root: HTMLElement): Promise<void> {
  const status = root.querySelector<HTMLElement>('.status')!;
  status.textContent = 'loading the tone detector…';
  let model: OndeviceModel;
  let session: ModelSession;
  try {
    model = await load(CHANNEL);
    session = await model.session();
  } catch (error) {
    status.textContent = `tone detector refused: ${error instanceof OndeviceError ? `${error.message} [${error.code}]` : String(error)}`;
    return;
  }
  const info = await model.info();
  status.textContent = `${info.name} ${info.version} · ${info.runtime.name} (${info.runtime.backend}) · gate ${info.gate.passed ? 'passed' : 'failed'}`;
  root.dataset.state = 'ready';
  wire(root, session);
}

/** The controls, once the session is open; the first "Listen" also starts the stream. */
function wire(root: HTMLElement, session: ModelSession): void {
  const controls = {
    tone: root.querySelector<HTMLInputElement>('input.tone')!,
    loudness: root.querySelector<HTMLInputElement>('input.loudness')!,
    run: root.querySelector<HTMLButtonElement>('button.run')!,
    reset: root.querySelector<HTMLButtonElement>('button.reset')!,
  };
  const view = {
    label: root.querySelector<HTMLElement>('.label')!,
    steps: root.querySelector<HTMLElement>('.steps')!,
    state: root.querySelector<HTMLElement>('.state')!,
    trace: root.querySelector<HTMLCanvasElement>('canvas.trace')!,
  };
  const signal = new SignalSource();
  const history: { p: number; tone: boolean }[] = [];
  let steps = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let busy = false;

  const tick = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      for (let i = 0; i < FRAMES_PER_TICK; i++) {
        const tone = controls.tone.checked;
        const frame = signal.frame(tone, Number(controls.loudness.value));
        const prediction = await session.predict({ frame });
        const p = prediction.kind === 'classification' ? prediction.probabilities.tone! : Number.NaN;
        history.push({ p, tone });
        if (history.length > TRACE) history.shift();
        steps++;
        view.label.textContent = prediction.kind === 'classification' ? prediction.label : '—';
      }
      view.steps.textContent = String(steps);
      root.dataset.steps = String(steps);
      const state = await session.state();
      const h = state?.h?.data as Float32Array | undefined;
      view.state.textContent = h === undefined ? '—' : `h [${state!.h!.dims.join(' × ')}], |h| = ${norm(h).toFixed(3)}`;
      drawTrace(view.trace, history);
    } finally {
      busy = false;
    }
  };
  const toggle = (): void => {
    if (timer === undefined) {
      timer = setInterval(() => void tick(), (FRAMES_PER_TICK * FRAME * 1000) / SAMPLE_RATE);
      controls.run.textContent = 'Stop';
    } else {
      clearInterval(timer);
      timer = undefined;
      controls.run.textContent = 'Listen';
    }
  };
  controls.run.addEventListener('click', toggle);
  toggle();
  controls.reset.addEventListener('click', () => {
    void session.reset().then(() => {
      steps = 0;
      history.length = 0;
      view.steps.textContent = '0';
      view.state.textContent = 'initial state (zeros)';
      root.dataset.steps = '0';
      drawTrace(view.trace, history);
    });
  });
}

/** Noise at a fixed level, and a sine of a fixed pitch while the tone is on, continuous across frames. */
class SignalSource {
  #phase = 0;
  #pitch = 600;

  frame(tone: boolean, loudness: number): Float32Array {
    const frame = new Float32Array(FRAME);
    for (let i = 0; i < FRAME; i++) {
      const noise = gaussian() * 0.3;
      this.#phase += (2 * Math.PI * this.#pitch) / SAMPLE_RATE;
      frame[i] = noise + (tone ? loudness * Math.sin(this.#phase) : 0);
    }
    return frame;
  }
}

function gaussian(): number {
  const u = 1 - Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

function norm(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v * v;
  return Math.sqrt(sum);
}

/** The probability per frame (a line), with the frames where the tone was on shaded. */
function drawTrace(canvas: HTMLCanvasElement, history: readonly { p: number; tone: boolean }[]): void {
  const context = canvas.getContext('2d')!;
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const step = width / TRACE;
  context.fillStyle = 'rgba(37, 99, 235, 0.15)';
  history.forEach((h, i) => h.tone && context.fillRect(i * step, 0, step + 0.5, height));
  context.strokeStyle = '#b91c1c';
  context.beginPath();
  history.forEach((h, i) => (i === 0 ? context.moveTo(0, height * (1 - h.p)) : context.lineTo(i * step, height * (1 - h.p))));
  context.stroke();
}
