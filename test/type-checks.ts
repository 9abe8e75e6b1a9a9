// Type-level tests of the public API, in the style of comlink's tests/type-checks.ts: `npm run
// typecheck` compiles this file (tsconfig.node.json includes test/), nothing runs it. What must
// compile is written plainly; what must not is marked `@ts-expect-error`, so the check fails if it
// ever compiles. Everything is imported from the public entry points, except the code arrays
// (not exported there), which are read as types only.
import type { Plugin } from 'vite';
import {
  BundleError,
  GateError,
  InputError,
  OndeviceError,
  ScoringError,
  StateError,
  load,
  type BundleErrorCode,
  type ColumnarPrediction,
  type DeploymentEvent,
  type GateErrorCode,
  type InputErrorCode,
  type LoadOptions,
  type ModelInfo,
  type OndeviceModel,
  type Prediction,
  type RowResult,
  type ScoringErrorCode,
  type StateErrorCode,
} from '../src/index.js';
import { load as loadInNode, type NodeLoadOptions } from '../src/node/index.js';
import ondevice, { type OndeviceViteOptions } from '../src/vite/index.js';
import type { CliError, CLI_ERROR_CODES, CliErrorCode } from '../src/cli/errors.js';
import type {
  BUNDLE_ERROR_CODES,
  GATE_ERROR_CODES,
  INPUT_ERROR_CODES,
  SCORING_ERROR_CODES,
  STATE_ERROR_CODES,
} from '../src/errors/index.js';

/** `true` when A and B are the same type (not merely assignable either way). */
type IsExact<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** `assert<IsExact<A, B>>(true)` compiles only when the condition is `true`. */
function assert<T extends boolean>(expected: T): void {
  void expected;
}

const row = { bill_length_mm: 39.1, island: 'Dream', sex: null };

// Never called: the checks are the compiler's.
export async function typeChecks(model: OndeviceModel): Promise<void> {
  // load() and its options
  {
    const loaded: Promise<OndeviceModel> = load('/bundles/penguins/channel.json');
    void loaded;
    await load(new URL('https://example.com/bundles/penguins/channel.json'), { batching: false });
    await load('/bundles/penguins/channel.json', {
      batching: { windowMs: 5, maxBatch: 256 },
      cache: { maxEntries: 1000 },
      keepVersions: 3,
      backends: ['webgpu', 'wasm'],
      monitor: false,
      telemetry: { endpoint: 'https://collector.example/v1/metrics', snapshotIntervalMs: 30_000 },
      workerStartTimeoutMs: 10_000,
      onProgress: (progress) => {
        if (progress.phase === 'download') assert<IsExact<typeof progress.loadedBytes, number>>(true);
      },
    });
    // @ts-expect-error: an unknown option is refused, not ignored
    await load('/bundles/penguins/channel.json', { batchSize: 10 });
    // @ts-expect-error: `persisted` is what load() tells the worker, not an option
    await load('/bundles/penguins/channel.json', { persisted: true });
    // @ts-expect-error: backends are named, from a fixed list
    await load('/bundles/penguins/channel.json', { backends: ['cuda'] });
    // @ts-expect-error: the cache needs its size
    await load('/bundles/penguins/channel.json', { cache: {} });
    const options: LoadOptions = { checkForUpdates: false };
    void options;
  }

  // ondevice/node: the same model, other options
  {
    const inNode: Promise<OndeviceModel> = loadInNode('bundles/penguins', { thread: 'worker', version: '1.0.0' });
    void inNode;
    // @ts-expect-error: the thread is `same` or `worker`
    await loadInNode('bundles/penguins', { thread: 'process' });
    // @ts-expect-error: a Web Worker is the browser's option
    await loadInNode('bundles/penguins', { worker: () => new Worker('worker.js') });
    // @ts-expect-error: Node versions are pinned by `version`, not by `pinned`
    const pinned: NodeLoadOptions = { pinned: { name: 'penguins', version: '1.0.0', manifestUrl: 'file:///m.json', sha256: '00' } };
    void pinned;
  }

  // ondevice/vite
  {
    const plugin: Plugin = ondevice({
      bundles: ['models/penguins/build'],
      offline: { navigateFallback: null },
      crossOriginIsolation: true,
    });
    void plugin;
    // @ts-expect-error: offline is a flag or its options
    ondevice({ offline: 'yes' });
    // @ts-expect-error: runtimes are named
    const vite: OndeviceViteOptions = { runtimes: ['pytorch'] };
    void vite;
  }

  // Scoring: rows, batches, columns
  {
    const one: Promise<Prediction> = model.predict(row);
    const many: Promise<Prediction[]> = model.predictBatch([row, row]);
    const each: Promise<RowResult[]> = model.predictEach([row]);
    void [one, many, each];

    const prediction = await model.predict(row);
    if (prediction.kind === 'classification') {
      const label: string = prediction.label;
      // Indexing a record may miss (noUncheckedIndexedAccess).
      const adelie: number | undefined = prediction.probabilities['Adelie'];
      void [label, adelie];
    } else if (prediction.kind === 'regression') {
      const value: number = prediction.value;
      void value;
    }
    // @ts-expect-error: `value` is a regression's, known only after narrowing by `kind`
    void prediction.value;

    const [first] = await model.predictEach([row]);
    if (first !== undefined && !first.ok) {
      const code: InputErrorCode = first.error.code;
      void code;
    }

    const columns: ColumnarPrediction = await model.predictColumns({
      bill_length_mm: new Float64Array([39.1, 40.2]),
      flipper_length_mm: [181, null],
      island: { codes: Int32Array.from([0, -1]), levels: ['Dream'] },
      sex: ['male', null],
    });
    if (columns.kind === 'regression') assert<IsExact<typeof columns.values, Float64Array>>(true);
    // @ts-expect-error: a column is a float or int32 typed array, an array of numbers or of strings, or a dictionary
    await model.predictColumns({ bill_length_mm: new Uint8Array(2) });
    // @ts-expect-error: one column holds one kind of value
    await model.predictColumns({ island: ['Dream', 1] });
    // @ts-expect-error: dictionary codes are an Int32Array
    await model.predictColumns({ island: { codes: [0, 1], levels: ['Dream'] } });
  }

  // The rest of the model
  {
    const info: ModelInfo = await model.info();
    const backend: string = info.runtime.backend;
    void backend;
    const explanation = await model.explain(row, {
      samples: 256,
      seed: 7,
      signal: AbortSignal.timeout(1_000),
      onProgress: ({ done, total }) => void (done / total),
    });
    assert<IsExact<typeof explanation.method, 'exact-linear' | 'sampling-shapley'>>(true);
    // @ts-expect-error: the methods are named
    await model.explain(row, { method: 'exact' });
    await model.importance({ repeats: 3 });
    await model.partialDependence('bill_length_mm', { gridSize: 10 });
    await model.reportOutcome('42', 1);

    const stop: () => void = model.on('activated', (event) => {
      const version: string = event.version;
      const previous: string | undefined = event.previous;
      void [version, previous];
    });
    stop();
    model.on('rejected', (event) => {
      assert<IsExact<typeof event, Extract<DeploymentEvent, { type: 'rejected' }>>>(true);
      // @ts-expect-error: only `activated` says which version it replaced
      void event.previous;
    });
    // @ts-expect-error: the event types are a fixed list
    model.on('installed-everywhere', () => undefined);
    await model.dispose();
  }
}

// Errors: each class's `code` is the union of its code array, and nothing else
export function errorChecks(error: unknown): void {
  assert<IsExact<InputErrorCode, (typeof INPUT_ERROR_CODES)[number]>>(true);
  assert<IsExact<BundleErrorCode, (typeof BUNDLE_ERROR_CODES)[number]>>(true);
  assert<IsExact<GateErrorCode, (typeof GATE_ERROR_CODES)[number]>>(true);
  assert<IsExact<ScoringErrorCode, (typeof SCORING_ERROR_CODES)[number]>>(true);
  assert<IsExact<StateErrorCode, (typeof STATE_ERROR_CODES)[number]>>(true);
  assert<IsExact<CliErrorCode, (typeof CLI_ERROR_CODES)[number]>>(true);

  assert<IsExact<InputError['code'], InputErrorCode>>(true);
  assert<IsExact<BundleError['code'], BundleErrorCode>>(true);
  assert<IsExact<GateError['code'], GateErrorCode>>(true);
  assert<IsExact<ScoringError['code'], ScoringErrorCode>>(true);
  assert<IsExact<StateError['code'], StateErrorCode>>(true);
  assert<IsExact<CliError['code'], CliErrorCode>>(true);
  // The base class takes any code: it is what a class the page does not know arrives as.
  assert<IsExact<OndeviceError['code'], string>>(true);

  if (error instanceof InputError) {
    switch (error.code) {
      case 'UNKNOWN_CATEGORY':
        break;
      // @ts-expect-error: not an InputError code
      case 'GATE_E2E_MISMATCH':
        break;
    }
    const row: unknown = error.details.row;
    void row;
  }
  if (error instanceof StateError)
    assert<IsExact<typeof error.code, 'DISPOSED' | 'NOT_READY' | 'CANCELLED' | 'UNSUPPORTED' | 'TOO_MANY_SESSIONS'>>(true);

  void new InputError('MISSING_FIELD', 'field "island" is missing', { row: 0, field: 'island' });
  void new ScoringError('SCORING_FAILED', 'the runtime failed');
  // @ts-expect-error: codes are a fixed list per class
  void new InputError('NOT_A_CODE', 'why', {});
  // @ts-expect-error: a code of another class
  void new BundleError('MISSING_FIELD', 'why');
  // @ts-expect-error: details are plain values, not objects
  void new GateError('GATE_E2E_MISMATCH', 'why', { row: { index: 1 } });
}
