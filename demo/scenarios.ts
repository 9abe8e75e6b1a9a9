// What the cross-engine browser tests (e2e/engines.spec.ts) do in the page: each scenario is one
// call that returns plain JSON, so any driver (Playwright, Puppeteer over BiDi, WebDriver) can run it.
import { load, type OndeviceModel, type Prediction } from '../src/index.js';
import { storage } from './storage.js';

type Row = Record<string, unknown>;

/** A prediction as JSON: the label and the probabilities in class order, or the value. */
function plain(
  prediction: Prediction,
  classes: readonly string[],
): { label?: string; probabilities?: number[]; value?: number; version?: string } {
  if (prediction.kind === 'classification')
    return {
      label: prediction.label,
      probabilities: classes.map((c) => prediction.probabilities[c]!),
      ...(prediction.version === undefined ? {} : { version: prediction.version }),
    };
  return prediction.kind === 'regression' ? { value: prediction.value } : { value: Number.NaN };
}

function refusal(error: unknown): { name: string; code: string; row: unknown; field: unknown; message: string } {
  const e = error as { name: string; code: string; message: string; details?: { row?: unknown; field?: unknown } };
  return { name: e.name, code: e.code, row: e.details?.row, field: e.details?.field, message: e.message };
}

let kept: OndeviceModel | undefined;
const events: string[] = [];

export const scenarios = {
  /** Loads and gates; predicts every row alone and all as one batch; refuses a bad row; keeps serving. */
  async loadAndScore({ channel, rows, bad }: { channel: string; rows: Row[]; bad: Row }) {
    const model = await load(channel);
    try {
      const info = await model.info();
      const classes = info.task.kind === 'classification' ? info.task.classes : [];
      const single = [];
      for (const row of rows) single.push(plain(await model.predict(row), classes));
      const batch = (await model.predictBatch(rows)).map((p) => plain(p, classes));
      const refused = await model.predict(bad).then(() => null, refusal);
      const after = plain(await model.predict(rows[0]!), classes);
      const { name, version, gate, runtime, source } = info;
      return {
        info: { name, version, gatePassed: gate.passed, runtime, source, crossOriginIsolated: globalThis.crossOriginIsolated === true },
        single,
        batch,
        refused,
        after,
      };
    } finally {
      await model.dispose();
    }
  },

  /**
   * A streaming session over `frames` (the tone detector: a GRU whose state stays in the worker, an
   * int64 constant fed by the bundle): each step's probability, the state's shape after, and a
   * constant sent by the caller refused by class and code.
   */
  async stream({ channel, frames }: { channel: string; frames: number[][] }) {
    const model = await load(channel);
    try {
      const session = await model.session();
      const probabilities: number[] = [];
      for (const frame of frames) {
        const p = await session.predict({ frame: Float32Array.from(frame) });
        probabilities.push(p.kind === 'classification' ? p.probabilities.tone! : Number.NaN);
      }
      const state = await session.state();
      const refused = await session.predict({ frame: Float32Array.from(frames[0]!), sr: 16000 }).then(() => null, refusal);
      await session.dispose();
      return { gatePassed: (await model.info()).gate.passed, probabilities, stateDims: state?.h?.dims ?? null, refused };
    } finally {
      await model.dispose();
    }
  },

  /** A load, its source, and one prediction (no update check: the test counts requests). */
  async startOnce({ channel, row }: { channel: string; row: Row }) {
    const model = await load(channel, { checkForUpdates: false });
    try {
      const info = await model.info();
      return {
        source: info.source,
        version: info.version,
        answer: plain(await model.predict(row), info.task.kind === 'classification' ? info.task.classes : []),
      };
    } finally {
      await model.dispose();
    }
  },

  /** Loads a model and keeps it (with its deployment events) for the scenarios below. */
  async keep({ channel }: { channel: string }) {
    kept = await load(channel);
    for (const type of ['update-available', 'installed', 'activated', 'rejected'] as const)
      kept.on(type, (event) => events.push(`${event.type} ${'version' in event ? event.version : ''}`));
    return (await kept.info()).version;
  },

  /** An update checked while calls keep being made: none may fail. */
  async updateWhileCalling({ row }: { row: Row }) {
    const model = kept!;
    let calls = 0;
    let failures = 0;
    let running = true;
    const loop = (async () => {
      while (running)
        await Promise.all(
          Array.from({ length: 8 }, () =>
            model.predict(row).then(
              () => calls++,
              () => failures++,
            ),
          ),
        );
    })();
    const result = await model.update();
    const serving = (await model.info()).version;
    running = false;
    await loop;
    return { result, calls, failures, serving, events: [...events] };
  },

  /** dispose() while an update check runs; then what the page saw. */
  async disposeDuringUpdate() {
    const model = kept!;
    kept = undefined;
    const errors: string[] = [];
    const onError = (event: ErrorEvent | PromiseRejectionEvent): void =>
      void errors.push(String('reason' in event ? event.reason : event.message));
    addEventListener('error', onError);
    addEventListener('unhandledrejection', onError);
    const checking = model.update();
    await model.dispose();
    const result = await checking.then((r) => r, refusal);
    // Anything left running would show within this time.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    removeEventListener('error', onError);
    removeEventListener('unhandledrejection', onError);
    return { result, errors, afterDispose: await model.info().then(() => 'answered', refusal) };
  },

  /** The versions the library has recorded for a channel on this device (what a restart would serve). */
  async storedVersions({ channel }: { channel: string }) {
    return storage.recordedVersions(channel);
  },

  /**
   * What the engine offers: WebGPU, SharedArrayBuffer, and whether a large batch (20,000 rows of
   * typed columns) is split across shard workers, which must answer as the worker alone does.
   */
  async capabilities({ channel, rows }: { channel: string; rows: Row[] }) {
    const repeated = Array.from({ length: 20_000 }, (_, i) => rows[i % rows.length]!);
    const columns = (): Parameters<OndeviceModel['predictColumns']>[0] => {
      const names = Object.keys(rows[0]!);
      return Object.fromEntries(
        names.map((name) => {
          const values = repeated.map((row) => row[name] as number | string | null);
          if (typeof rows.find((row) => row[name] !== null)![name] === 'number')
            return [name, Float64Array.from(values, (v) => (v === null ? Number.NaN : (v as number)))];
          const levels = [...new Set(values.filter((v): v is string => v !== null))];
          return [name, { codes: Int32Array.from(values, (v) => (v === null ? -1 : levels.indexOf(v as string))), levels }];
        }),
      );
    };
    const model = await load(channel);
    try {
      // The first large batch starts the shards (the worker scores it alone); the next goes to them once they checked themselves.
      const first = await model.predictColumns(columns());
      for (let i = 0; i < 200 && (await model.info()).runtime.shards?.state === 'starting'; i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      const second = await model.predictColumns(columns());
      const alone = await model.predictBatch(repeated.slice(0, 500));
      const labels = (answer: typeof first): readonly string[] => (answer.kind === 'classification' ? answer.labels : []);
      const agrees = labels(second)
        .slice(0, 500)
        .every((label, i) => label === (alone[i]!.kind === 'classification' ? alone[i]!.label : ''));
      return {
        webgpu: 'gpu' in navigator,
        sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
        cores: navigator.hardwareConcurrency,
        shards: (await model.info()).runtime.shards,
        sameAnswers: agrees && labels(first).join() === labels(second).join(),
      };
    } finally {
      await model.dispose();
    }
  },

  /** Waits until a service worker controls the page (the demo registers one). */
  async serviceWorkerControls() {
    await navigator.serviceWorker.ready;
    for (let i = 0; i < 100 && navigator.serviceWorker.controller === null; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    return navigator.serviceWorker.controller !== null;
  },
};

export type Scenarios = typeof scenarios;
