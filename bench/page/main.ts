// The bench page: ondevice and its rivals in one page, driven by bench/run.ts through window.bench.
import { load, type ColumnarInput, type DictionaryColumn, type ModelInfo, type OndeviceModel, type Prediction } from '../../src/index.js';
import { compileFeatureSpec, parseFeatureSpec, type FeatureTransform } from '../../src/features/index.js';
import type {
  BatchFigure,
  BenchApi,
  Breakdown,
  BreakdownPart,
  ConcurrentFigure,
  ContestantId,
  LatencyFigure,
  LatencyStats,
  ModelSetup,
  PageEnvironment,
  RivalId,
  SetupInput,
  StartResult,
  TimedRuns,
} from '../protocol.js';
import { channelUrl, confidenceRows, fetchBytes, fetchJson, inputDtype, openBundle, type Bundle, type Json } from './bundle.js';
import type { ComlinkRival } from './rivals/comlink-worker.js';
import type { OrtWorkerRival } from './rivals/ort-worker.js';
import type { Dtype, FeatureArray, Rival, RivalInit } from './rivals/rival.js';
import { meanMicros, meanMicrosSync, now, timeInTurns, timeRuns, timeSequential, timerResolutionMs, type Contestant } from './stats.js';

declare global {
  interface Window {
    bench: BenchApi;
  }
}

type Row = Record<string, Json>;

/** The model under test and everything set up around it (one at a time, to keep memory and CPU for it). */
interface Current {
  readonly model: string;
  readonly bundle: Bundle;
  readonly ondevice: OndeviceModel;
  readonly info: ModelInfo;
  readonly rows: readonly Row[];
  readonly width: number;
  readonly dtype: Dtype;
  /** The research features of the confidence rows, in the model's input dtype. */
  readonly features: FeatureArray;
  readonly rivals: Map<RivalId, Rival>;
  /** ondevice's own validation + feature code, compiled here on the main thread to time it without messaging. */
  readonly transform: FeatureTransform;
  unbatched?: OndeviceModel;
}

let current: Current | undefined;
let fineTimer: boolean | undefined;

/** Every contestant scores the bundle's main model: a variant (e.g. int8) would be another model. */
const SAME_MODEL = { variant: 'none' } as const;

function need(): Current {
  if (current === undefined) throw new Error('bench: call setup() first');
  return current;
}

const isFine = (): boolean => (fineTimer ??= timerResolutionMs() <= 0.02);

function typed(dtype: Dtype, values: ArrayLike<number> | number[]): FeatureArray {
  return dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
}

/** `rows` copies of the confidence rows, tiled; distinct objects, since structured clone sends a repeated reference once. */
function tileRows(rows: readonly Row[], count: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({ ...rows[i % rows.length]! }));
}

function tileFeatures(features: FeatureArray, width: number, count: number): FeatureArray {
  const out = features instanceof Float64Array ? new Float64Array(count * width) : new Float32Array(count * width);
  const per = features.length / width;
  for (let i = 0; i < count; i += per) out.set(features.subarray(0, Math.min(per, count - i) * width), i * width);
  return out;
}

/**
 * Columns for predictColumns(), in their fast form: numbers as Float64Array (NaN = missing),
 * categories dictionary-encoded ({ codes: Int32Array, levels }, -1 = missing).
 */
function toColumns(rows: readonly Row[], info: ModelInfo): ColumnarInput {
  const columns: Record<string, Float64Array | DictionaryColumn> = {};
  for (const field of info.inputs) {
    if (field.type === 'number') {
      const column = new Float64Array(rows.length);
      rows.forEach((row, i) => (column[i] = typeof row[field.name] === 'number' ? (row[field.name] as number) : NaN));
      columns[field.name] = column;
    } else if (field.type === 'category') {
      const codes = new Int32Array(rows.length);
      const levels: string[] = [];
      const index = new Map<string, number>();
      rows.forEach((row, i) => {
        const value = row[field.name];
        if (typeof value !== 'string') return void (codes[i] = -1);
        let code = index.get(value);
        if (code === undefined) index.set(value, (code = levels.push(value) - 1));
        codes[i] = code;
      });
      columns[field.name] = { codes, levels };
    } else throw new Error(`bench: tensor input ${field.name} has no column form`);
  }
  return columns;
}

/** ondevice's answers as one flat array: the probabilities row by row, or the values. */
function flatten(predictions: readonly Prediction[], classes: readonly string[]): number[] {
  return predictions.flatMap((p) => (p.kind === 'regression' ? [p.value] : classes.map((c) => p.probabilities[c]!)));
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

async function createRival(id: RivalId, bundle: Bundle, init: Omit<RivalInit, 'model'>): Promise<Rival> {
  if (id === 'tfjs-wasm') {
    const { createTfjsRival } = await import('./rivals/tfjs.js');
    return createTfjsRival(bundle.url('model'), Float32Array.from(init.features), init.width);
  }
  const full: RivalInit = { ...init, model: await fetchBytes(bundle.url('model')) };
  if (id === 'ort-main') return (await import('./rivals/ort-main.js')).createOrtMainRival(full);
  if (id === 'ort-proxy') return (await import('./rivals/ort-proxy.js')).createOrtProxyRival(full);
  if (id === 'ort-worker') return (await import('./rivals/ort-worker.js')).createOrtWorkerRival(full);
  return (await import('./rivals/comlink-worker.js')).createComlinkRival(full);
}

async function unbatched(state: Current): Promise<OndeviceModel> {
  state.unbatched ??= await load(channelUrl(state.model), { ...SAME_MODEL, checkForUpdates: false, batching: false });
  return state.unbatched;
}

/** The worker's JS heap, where this build of the library reports it (`info().stats.heapBytes`). */
async function workerHeap(model: OndeviceModel): Promise<number | null> {
  const stats: unknown = (await model.info()).stats;
  if (typeof stats !== 'object' || stats === null || !('heapBytes' in stats)) return null;
  return typeof stats.heapBytes === 'number' ? stats.heapBytes : null;
}

async function runsOf(model: OndeviceModel): Promise<number | null> {
  return (await model.info()).stats?.runs ?? null;
}

const api: BenchApi = {
  environment(): PageEnvironment {
    const resolution = timerResolutionMs();
    fineTimer = resolution <= 0.02;
    return {
      userAgent: navigator.userAgent,
      hardwareConcurrency: navigator.hardwareConcurrency,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      timerResolutionMs: resolution,
      url: location.href,
    };
  },

  async throttleCheck(url) {
    // Absolute: a worker resolves relative URLs against its own script's URL (assets/), not the page's.
    const absolute = new URL(url, location.href).href;
    const start = now();
    const response = await fetch(absolute, { cache: 'no-store' });
    if (!response.ok) throw new Error(`${absolute}: HTTP ${response.status}`);
    const bytes = (await response.arrayBuffer()).byteLength;
    const pageMs = now() - start;
    const worker = new Worker(new URL('./workers/fetch-worker.ts', import.meta.url), { type: 'module' });
    const answer = await new Promise<{ ms: number; bytes: number }>((resolve) => {
      worker.onmessage = (event: MessageEvent<{ ms: number; bytes: number }>) => resolve(event.data);
      worker.postMessage(absolute);
    });
    worker.terminate();
    if (answer.bytes !== bytes) throw new Error(`throttle check: the worker got ${answer.bytes} bytes, the page ${bytes}`);
    return { pageMs, workerMs: answer.ms, bytes };
  },

  async setup(input: SetupInput): Promise<ModelSetup> {
    if (current !== undefined) await api.teardown();
    const bundle = await openBundle(input.model);
    const rows = await confidenceRows(bundle);
    const dtype = await inputDtype(bundle);
    const start = now();
    const ondevice = await load(channelUrl(input.model), { ...SAME_MODEL, checkForUpdates: false });
    const loadMs = now() - start;
    const info = await ondevice.info();
    const width = info.featureNames.length;
    const research = input.researchFeatures.flat();
    const features = typed(dtype, research);
    const featureMaxAbsDiff = maxDiff((await ondevice.features(rows)).values, research);
    const output = bundle.task.kind === 'classification' ? bundle.task.probabilities : bundle.task.value;
    const threads = info.runtime.name === 'onnxruntime-web' ? info.runtime.threads : 1;
    const rivals = new Map<RivalId, Rival>();
    for (const id of input.rivals) rivals.set(id, await createRival(id, bundle, { dtype, width, output, threads, features }));
    const transform = compileFeatureSpec(parseFeatureSpec(await fetchJson(bundle.url('featureSpec'))));
    current = { model: input.model, bundle, ondevice, info, rows, width, dtype, features, rivals, transform };

    const classes = bundle.task.kind === 'classification' ? bundle.task.classes : [];
    const expected = flatten(await ondevice.predictBatch(rows), classes);
    const predictionMaxDiff: Partial<Record<RivalId, number>> = {};
    for (const [id, rival] of rivals) {
      let values: ArrayLike<number>;
      if (id === 'comlink-worker') values = (await Promise.all(rows.map((_, r) => rival.one(r)))).flatMap((v) => Array.from(v));
      else values = await rival.many(features.slice(), rows.length);
      // TensorFlow.js models output what the task's inverse turns into the prediction (log price -> price).
      if (bundle.task.kind === 'regression' && bundle.task.inverse === 'expm1') values = Array.from(values, Math.expm1);
      predictionMaxDiff[id] = maxDiff(values, expected);
    }
    return {
      model: input.model,
      runtime: info.runtime,
      rivalThreads: threads,
      task: bundle.task.kind,
      width,
      inputDtype: dtype,
      confidenceRows: rows.length,
      featureMaxAbsDiff,
      predictionMaxDiff,
      loadMs,
    };
  },

  async latency(calls, warmup): Promise<LatencyFigure> {
    const state = need();
    const fine = isFine();
    const results: Partial<Record<ContestantId, LatencyStats>> = {};
    const { rows, ondevice } = state;
    results.ondevice = await timeSequential(calls, warmup, fine, (i) => ondevice.predict(rows[i % rows.length]!));
    for (const [id, rival] of state.rivals) {
      results[id] = await timeSequential(calls, warmup, fine, (i) => rival.one(i % rows.length));
    }
    return { model: state.model, results };
  },

  async concurrent(calls, repetitions): Promise<ConcurrentFigure> {
    const state = need();
    const many = tileRows(state.rows, calls);
    const results: Partial<Record<ContestantId, TimedRuns>> = {};
    const fireAll = (model: OndeviceModel) => (rows: Row[]) => Promise.all(rows.map((row) => model.predict(row)));

    const before = await runsOf(state.ondevice);
    results.ondevice = await timeRuns(repetitions, () => many, fireAll(state.ondevice));
    const after = await runsOf(state.ondevice);
    const plain = await unbatched(state);
    const beforePlain = await runsOf(plain);
    results['ondevice-unbatched'] = await timeRuns(repetitions, () => many, fireAll(plain));
    const afterPlain = await runsOf(plain);

    // Rivals with a one-row API: each call awaited before the next.
    const oneByOne = (rival: Rival) => async () => {
      for (let i = 0; i < calls; i++) await rival.one(i % state.rows.length);
    };
    for (const id of ['comlink-worker', 'ort-main', 'tfjs-wasm'] as const) {
      const rival = state.rivals.get(id);
      if (rival !== undefined) results[id] = await timeRuns(repetitions, () => undefined, oneByOne(rival));
    }
    const perRepetition = (a: number | null, b: number | null): number | null =>
      a === null || b === null ? null : (b - a) / (repetitions + 1);
    return {
      model: state.model,
      calls,
      results,
      ondeviceRunsPerRepetition: perRepetition(before, after),
      ondeviceUnbatchedRunsPerRepetition: perRepetition(beforePlain, afterPlain),
    };
  },

  async batch(count, repetitions): Promise<BatchFigure> {
    const state = need();
    const rows = tileRows(state.rows, count);
    const matrix = tileFeatures(state.features, state.width, count);
    const results: Partial<Record<ContestantId, TimedRuns & { rowsPerSecond: number }>> = {};
    const skipped: Partial<Record<ContestantId, string>> = {};
    const record = (id: ContestantId, runs: TimedRuns): void =>
      void (results[id] = { ...runs, rowsPerSecond: count / (runs.medianMs / 1000) });

    const heapBefore = await workerHeap(state.ondevice);
    let predictions: Prediction[] = [];
    const { ondevice, info } = state;
    const contestants: Contestant<unknown>[] = [
      { id: 'ondevice', prepare: () => rows, run: async () => void (predictions = await ondevice.predictBatch(rows)) },
    ];
    if (typeof ondevice.predictColumns === 'function') {
      // The columns are built untimed for each run: predictColumns() transfers (detaches) them.
      contestants.push({
        id: 'ondevice-columns',
        prepare: () => toColumns(rows, info),
        run: (columns) => ondevice.predictColumns(columns as ColumnarInput),
      });
    } else skipped['ondevice-columns'] = 'predictColumns() is not in this build of the library';
    for (const [id, rival] of state.rivals) {
      if (id === 'comlink-worker') {
        skipped[id] = 'scores one row per call';
        continue;
      }
      // A rival that transfers its input gets a fresh copy per run, made before the clock starts.
      contestants.push({ id, prepare: () => (rival.consumes ? matrix.slice() : matrix), run: (m) => rival.many(m as FeatureArray, count) });
    }
    for (const [id, runs] of await timeInTurns(repetitions, contestants)) record(id as ContestantId, runs);
    const heapAfter = await workerHeap(state.ondevice);
    const shards = (await ondevice.info()).runtime.shards ?? null;

    let start = now();
    await state.ondevice.features(rows);
    const featuresCallMs = now() - start;
    const timed = (action: () => unknown): number => {
      start = now();
      action();
      return now() - start;
    };
    const reference = {
      structuredCloneRowsMs: timed(() => structuredClone(rows)),
      prepareRowsMs: timed(() => state.transform.prepare(rows)),
      featuresCallMs,
      structuredClonePredictionsMs: timed(() => structuredClone(predictions)),
      workerHeapBytes: { before: heapBefore, after: heapAfter },
    };
    predictions = [];
    return { model: state.model, rows: count, results, skipped, shards, reference };
  },

  async breakdown(calls): Promise<Breakdown> {
    const state = need();
    const row = state.rows[0]!;
    const comlink = state.rivals.get('comlink-worker') as ComlinkRival | undefined;
    const worker = state.rivals.get('ort-worker') as OrtWorkerRival | undefined;
    const main = state.rivals.get('ort-main');
    if (comlink === undefined || worker === undefined || main === undefined)
      throw new Error('breakdown: needs comlink-worker, ort-worker and ort-main');
    // A fresh instance: the model under test has scored hundreds of thousands of rows by now, and a
    // worker's per-call costs change with that (see the batch figure's notes); these are the fixed costs.
    const fresh = await load(channelUrl(state.model), { ...SAME_MODEL, checkForUpdates: false });
    const prediction = await fresh.predict(row);
    // The same validation and feature code the worker runs, here on the main thread, without any messaging.
    const transform = state.transform;
    const plain = await load(channelUrl(state.model), { ...SAME_MODEL, checkForUpdates: false, batching: false });
    // Threads cost a wake-up per parallel operator: the same worker and ondevice on one thread show how much.
    const output = state.bundle.task.kind === 'classification' ? state.bundle.task.probabilities : state.bundle.task.value;
    const { createOrtWorkerRival } = await import('./rivals/ort-worker.js');
    const model = await fetchBytes(state.bundle.url('model'));
    const workerOneThread = await createOrtWorkerRival({
      model,
      dtype: state.dtype,
      width: state.width,
      output,
      threads: 1,
      features: state.features,
    });
    const ondeviceOneThread = await load(channelUrl(state.model), { ...SAME_MODEL, checkForUpdates: false, threads: 1 });
    const us: Record<BreakdownPart, number> = {
      postMessageRoundTrip: await meanMicros(calls, () => worker.ping()),
      comlinkNoopRoundTrip: await meanMicros(calls, () => comlink.noop()),
      comlinkEchoRow: await meanMicros(calls, () => comlink.echo(row)),
      comlinkEchoPrediction: await meanMicros(calls, () => comlink.echo(prediction)),
      structuredCloneRow: meanMicrosSync(calls, () => structuredClone(row)),
      structuredClonePrediction: meanMicrosSync(calls, () => structuredClone(prediction)),
      validateAndFeaturesInPage: meanMicrosSync(calls, () => transform.prepare([row])),
      ondeviceFeaturesCall: await meanMicros(calls, () => fresh.features([row])),
      sessionRunMainOneRow: await meanMicros(calls, (i) => main.one(i % state.rows.length)),
      sessionRunWorkerOneRow: await meanMicros(calls, (i) => worker.one(i % state.rows.length)),
      sessionRunWorkerOneRowOneThread: await meanMicros(calls, (i) => workerOneThread.one(i % state.rows.length)),
      ondevicePredict: await meanMicros(calls, () => fresh.predict(row)),
      ondevicePredictUnbatched: await meanMicros(calls, () => plain.predict(row)),
      ondevicePredictOneThread: await meanMicros(calls, () => ondeviceOneThread.predict(row)),
      ondevicePredictBatchOfOne: await meanMicros(calls, () => fresh.predictBatch([row])),
    };
    await fresh.dispose();
    await plain.dispose();
    await workerOneThread.dispose();
    await ondeviceOneThread.dispose();
    return { model: state.model, calls, us };
  },

  async teardown() {
    const state = current;
    current = undefined;
    if (state === undefined) return;
    for (const rival of state.rivals.values()) await rival.dispose();
    await state.ondevice.dispose();
    await state.unbatched?.dispose();
  },

  async startOndevice(model, row, checkForUpdates): Promise<StartResult> {
    const start = now();
    const ondevice = await load(channelUrl(model), { ...SAME_MODEL, checkForUpdates });
    await ondevice.predict(row);
    const ms = now() - start;
    const info = await ondevice.info();
    if (!checkForUpdates) await ondevice.dispose();
    return { ms, source: info.source, workerTimings: info.timings, bundleBytes: info.bundleBytes };
  },

  async startOrtMain(modelUrl, features, dtype, threads): Promise<StartResult> {
    const start = now();
    const ort = await import('onnxruntime-web/wasm');
    ort.env.wasm.numThreads = threads;
    ort.env.logLevel = 'error';
    const session = await ort.InferenceSession.create(await fetchBytes(modelUrl), {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
    await session.run({ [session.inputNames[0]!]: new ort.Tensor(typed(dtype, features), [1, features.length]) });
    const ms = now() - start;
    await session.release();
    return { ms };
  },
};

window.bench = api;
document.body.dataset.ready = 'true';
