import type { Task } from '../bundle/index.js';
import { InputError, describeUnknown } from '../errors/index.js';
import type { InputTensor, OutputTensor, Runtime, ShardStatus, TensorData } from '../runtimes/index.js';

/*
 * A large batch split by rows across workers, each with its own one-thread session of the model and
 * its own copy of the feature transform. onnxruntime-web's threads split each operator's work and
 * meet after it; on the 100k-row house-prices GBM in headless Chromium on 2 cores, two such threads
 * ran 1.55x one thread, and two hand-written one-thread workers on half the rows each 1.9x. Typed columns are sent as they are, so the features
 * are computed in the shards too, in parallel. The workers need no cross-origin isolation: a page
 * without it gets the same gain. They start on the first batch large enough and are checked against
 * the worker's own session before any batch goes to them; until then, or after a failure, batches
 * are scored by the worker alone.
 */

import { SHARD_MIN_ROWS } from './shard-rows.js';

export { SHARD_MIN_ROWS };
/** Rows of the first large batch scored both ways before the shards serve. */
export const PROBE_ROWS = 256;
/** How far a shard's output may stray from the worker's own session on the probe rows (relative, above 1). */
export const PROBE_TOLERANCE = 1e-5;
/** Buffers kept per shard between batches, up to this size each (bytes). */
const MAX_SPARE_BYTES = 64 * 1024 * 1024;

export type Inputs = Readonly<Record<string, InputTensor>>;
export type Outputs = Record<string, OutputTensor>;

/** What a shard starts from: the model the worker serves, its feature spec and its task. */
export interface ShardInit {
  readonly model: Uint8Array;
  readonly featureSpec: Uint8Array;
  readonly task: Task;
}

/** Columns a shard takes as they are: float64 numbers, and dictionary-encoded categories. */
export type ShardColumn = Float64Array | { readonly codes: Int32Array; readonly levels: readonly unknown[] };
export type ShardColumns = Readonly<Record<string, ShardColumn>>;

/**
 * A shard worker (`worker/shard-entry.ts`), reached through comlink. What is sent is transferred, and
 * its buffers come back with the answer, to be written again.
 */
export interface Shard {
  /** Scores ready model inputs. */
  run(inputs: Inputs, wanted: readonly string[] | undefined): Promise<{ readonly outputs: Outputs; readonly inputs: Inputs }>;
  /** Validates the columns, computes their features and scores them: the task's output. Throws `InputError` as the worker would. */
  scoreColumns(columns: ShardColumns): Promise<{ readonly outputs: Outputs; readonly columns: ShardColumns }>;
  close(): void;
}

/** Starts one shard worker; rejects if it cannot. */
export type StartShard = (init: ShardInit) => Promise<Shard>;

type TypedArray = Exclude<TensorData, BigInt64Array>;

/**
 * `rows` copied, into `spare` when it is large enough (it saves allocating, and the OS zeroing, tens
 * of MB per batch); the copy is then transferred to a shard.
 */
function copied<T extends TypedArray>(rows: T, spare: ArrayBuffer | undefined): T {
  if (spare === undefined || spare.byteLength < rows.byteLength) return rows.slice() as T;
  const copy = new (rows.constructor as new (buffer: ArrayBuffer, offset: number, length: number) => T)(spare, 0, rows.length);
  copy.set(rows);
  return copy;
}

/** The rows of every input in [from, to), copied (spares by `input:<name>`). */
export function sliceInputs(
  inputs: Inputs,
  from: number,
  to: number,
  spares: ReadonlyMap<string, ArrayBuffer> = new Map(),
): Record<string, InputTensor> {
  const sliced: Record<string, InputTensor> = {};
  for (const [name, { data, dims }] of Object.entries(inputs)) {
    const perRow = rowSize(dims);
    sliced[name] = {
      // Shards score tabular models: their inputs are float32 or float64, never int64.
      data: copied(data.subarray(from * perRow, to * perRow) as TypedArray, spares.get(`input:${name}`)),
      dims: [to - from, ...dims.slice(1)],
    };
  }
  return sliced;
}

/**
 * The rows of every column in [from, to), copied (spares by `column:<name>`); undefined if a column
 * is not a Float64Array or `{ codes: Int32Array, levels }` (such a batch is scored by the worker alone).
 */
export function sliceColumns(
  columns: unknown,
  from: number,
  to: number,
  spares: ReadonlyMap<string, ArrayBuffer> = new Map(),
): Record<string, ShardColumn> | undefined {
  if (typeof columns !== 'object' || columns === null) return undefined;
  const sliced: Record<string, ShardColumn> = {};
  for (const [name, column] of Object.entries(columns)) {
    const spare = spares.get(`column:${name}`);
    if (column instanceof Float64Array) sliced[name] = copied(column.subarray(from, to), spare);
    else if (isDictionary(column)) sliced[name] = { codes: copied(column.codes.subarray(from, to), spare), levels: column.levels };
    else return undefined;
  }
  return sliced;
}

function isDictionary(column: unknown): column is { codes: Int32Array; levels: readonly unknown[] } {
  if (typeof column !== 'object' || column === null || Object.getPrototypeOf(column) !== Object.prototype) return false;
  const { codes, levels } = column as { codes?: unknown; levels?: unknown };
  return codes instanceof Int32Array && Array.isArray(levels);
}

/** Keeps the buffers a shard handed back, to copy its next batch into. */
function keepSpares(
  spares: Map<string, ArrayBuffer>,
  kind: 'input' | 'column',
  tensors: Readonly<Record<string, InputTensor | ShardColumn>>,
): void {
  for (const [name, value] of Object.entries(tensors)) {
    const data = value instanceof Float64Array ? value : 'data' in value ? value.data : value.codes;
    if (data.buffer instanceof ArrayBuffer && data.buffer.byteLength <= MAX_SPARE_BYTES) spares.set(`${kind}:${name}`, data.buffer);
  }
}

/**
 * Rows [from, to) of each part, as near to equal as rows allow; fewer parts than asked when there
 * are fewer rows.
 */
export function splitRows(rows: number, parts: number): { from: number; to: number }[] {
  const count = Math.max(1, Math.min(parts, rows));
  return Array.from({ length: count }, (_, i) => ({ from: Math.floor((rows * i) / count), to: Math.floor((rows * (i + 1)) / count) }));
}

/** Each output's parts, in order, as one tensor; throws if a part is not one row per input row. */
export function joinOutputs(parts: readonly Outputs[], rows: readonly number[]): Outputs {
  const joined: Outputs = {};
  for (const name of Object.keys(parts[0] ?? {})) {
    const pieces = parts.map((part, i) => {
      const piece = part[name];
      if (piece === undefined || piece.dims[0] !== rows[i]) throw new Error(`output "${name}" of a shard is not one row per input row`);
      return piece;
    });
    const first = pieces[0]!;
    const data = new (first.data.constructor as new (length: number) => Float64Array)(pieces.reduce((sum, p) => sum + p.data.length, 0));
    let at = 0;
    for (const piece of pieces) {
      data.set(piece.data as Float64Array, at);
      at += piece.data.length;
    }
    joined[name] = { data, dims: [rows.reduce((a, b) => a + b, 0), ...first.dims.slice(1)] };
  }
  return joined;
}

/** The largest |a - b| / max(1, |b|) over every output the local run has; Infinity if they do not match in shape. */
export function outputDifference(shard: Outputs, local: Outputs): number {
  let worst = 0;
  for (const [name, expected] of Object.entries(local)) {
    const got = shard[name];
    if (got === undefined || got.data.length !== expected.data.length) return Number.POSITIVE_INFINITY;
    for (let i = 0; i < expected.data.length; i++) {
      const a = Number(got.data[i]!);
      const b = Number(expected.data[i]!);
      // Equal, or both missing (NaN): no difference.
      if (a === b || (a !== a && b !== b)) continue;
      const difference = Math.abs(a - b) / Math.max(1, Math.abs(b));
      worst = difference === difference ? Math.max(worst, difference) : Number.POSITIVE_INFINITY;
    }
  }
  return worst;
}

function rowSize(dims: readonly number[]): number {
  return dims.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * Shard workers for one model: started by the first batch of `minRows` rows (which the worker
 * scores alone), then checked on that batch's first rows against the worker's own session. From then
 * on a large batch is split across them. A failure turns the pool off for good, with the reason, and
 * the batch is scored by the worker alone: the model keeps serving either way.
 */
export class ShardPool {
  readonly #count: number;
  readonly #init: ShardInit;
  readonly #start: StartShard;
  readonly #minRows: number;
  #state: ShardStatus['state'] = 'idle';
  #shards: Shard[] = [];
  /** Per shard, the buffers of what it handed back. */
  #spares: Map<string, ArrayBuffer>[] = [];
  #reason: string | undefined;
  #batches = 0;
  #starting: Promise<void> | undefined;
  #closed = false;

  constructor(count: number, init: ShardInit, start: StartShard, minRows = SHARD_MIN_ROWS) {
    this.#count = count;
    // The verified bundle's bytes, only ever read: kept (not copied) for the workers started later.
    this.#init = init;
    this.#start = start;
    this.#minRows = minRows;
  }

  status(): ShardStatus {
    return {
      workers: this.#count,
      state: this.#state,
      minRows: this.#minRows,
      batches: this.#batches,
      ...(this.#reason === undefined ? {} : { reason: this.#reason }),
    };
  }

  /** Settles once a start under way has ended (ready or off); at once if none is. */
  async settled(): Promise<void> {
    await this.#starting;
  }

  /**
   * The batch's model inputs scored by the shards, or undefined when the worker is to score it alone
   * (too small, the shards not ready, or they failed on it). The first large batch starts them: `local`
   * scores its first rows in the worker's own session, to check them against.
   */
  async run(
    inputs: Inputs,
    wanted: readonly string[] | undefined,
    local: (inputs: Inputs) => Promise<Outputs>,
  ): Promise<Outputs | undefined> {
    const rows = batchRows(inputs);
    if (rows === undefined || rows < this.#minRows) return undefined;
    if (this.#state === 'idle') {
      this.#state = 'starting';
      // The probe is copied now: the caller reuses its input buffer once this run settles.
      this.#starting = this.#startAll(sliceInputs(inputs, 0, Math.min(PROBE_ROWS, rows)), wanted, local);
      return undefined;
    }
    if (this.#state !== 'ready') return undefined;
    return this.#split(rows, (shard, spares, from, to) =>
      shard.run(sliceInputs(inputs, from, to, spares), wanted).then(({ outputs, inputs: back }) => {
        keepSpares(spares, 'input', back);
        return outputs;
      }),
    );
  }

  /**
   * Whether `scoreColumns` may take these columns, from a look at each column (not at its values):
   * the shards ready, and every column a Float64Array or `{ codes: Int32Array, levels }` of at least
   * `minRows` rows. Lets the worker skip reading columns the shards would not take.
   */
  accepts(columns: unknown): boolean {
    if (this.#state !== 'ready' || typeof columns !== 'object' || columns === null) return false;
    const lengths = Object.values(columns).map((column: unknown) =>
      column instanceof Float64Array ? column.length : isDictionary(column) ? column.codes.length : -1,
    );
    return lengths.length > 0 && lengths.every((length) => length >= this.#minRows);
  }

  /**
   * Raw typed columns (`rows` of them, already read by the worker) validated, featurized and scored by
   * the shards; undefined when the worker is to do it alone: the shards not ready, too few rows, a
   * column of another kind, or a value refused (the worker's own read then names it, at its row in
   * the whole batch).
   */
  async scoreColumns(columns: unknown, rows: number): Promise<Outputs | undefined> {
    if (this.#state !== 'ready' || rows < this.#minRows) return undefined;
    const parts = splitRows(rows, this.#shards.length);
    const slices = parts.map(({ from, to }, i) => sliceColumns(columns, from, to, this.#spares[i]));
    if (slices.some((slice) => slice === undefined)) return undefined;
    return this.#split(rows, (shard, spares, _from, _to, i) =>
      shard.scoreColumns(slices[i]!).then(({ outputs, columns: back }) => {
        keepSpares(spares, 'column', back);
        return outputs;
      }),
    );
  }

  close(): void {
    this.#closed = true;
    this.#closeShards();
  }

  /** Each shard's part of the rows, joined in order; undefined (the pool off, unless a value was refused) if one fails. */
  async #split(
    rows: number,
    score: (shard: Shard, spares: Map<string, ArrayBuffer>, from: number, to: number, index: number) => Promise<Outputs>,
  ): Promise<Outputs | undefined> {
    const parts = splitRows(rows, this.#shards.length);
    try {
      const outputs = await Promise.all(parts.map(({ from, to }, i) => score(this.#shards[i]!, this.#spares[i]!, from, to, i)));
      const joined = joinOutputs(
        outputs,
        parts.map(({ from, to }) => to - from),
      );
      this.#batches++;
      return joined;
    } catch (error) {
      if (!(error instanceof InputError)) this.#off(`a shard failed on a batch of ${rows} rows: ${describeUnknown(error)}`);
      return undefined;
    }
  }

  async #startAll(probe: Inputs, wanted: readonly string[] | undefined, local: (inputs: Inputs) => Promise<Outputs>): Promise<void> {
    const started = await Promise.allSettled(Array.from({ length: this.#count }, () => this.#start(this.#init)));
    const shards = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (this.#closed) return shards.forEach((shard) => shard.close());
    this.#shards = shards;
    this.#spares = shards.map(() => new Map());
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) return this.#off(`a shard worker did not start: ${describeUnknown(failed.reason)}`);
    try {
      const expected = await local(probe);
      const rows = batchRows(probe)!;
      for (const shard of shards) {
        const { outputs } = await shard.run(sliceInputs(probe, 0, rows), wanted);
        joinOutputs([outputs], [rows]);
        const difference = outputDifference(outputs, expected);
        if (!(difference <= PROBE_TOLERANCE)) {
          return this.#off(
            `a shard's outputs differ from the worker's own session by ${difference.toPrecision(3)} (relative) on ${rows} rows`,
          );
        }
      }
    } catch (error) {
      return this.#off(`checking the shards failed: ${describeUnknown(error)}`);
    }
    if (!this.#closed) this.#state = 'ready';
  }

  #off(reason: string): void {
    this.#state = 'off';
    this.#reason = reason;
    this.#closeShards();
  }

  #closeShards(): void {
    for (const shard of this.#shards) shard.close();
    this.#shards = [];
    this.#spares = [];
  }
}

/** `runtime` with its large batches split across the pool's shards; disposing it ends them. */
export function withShards(runtime: Runtime, pool: ShardPool): Runtime {
  return {
    ...runtime,
    async run(inputs, wanted) {
      return (await pool.run(inputs, wanted, (probe) => runtime.run(probe, wanted))) ?? runtime.run(inputs, wanted);
    },
    shards: () => pool.status(),
    async dispose() {
      pool.close();
      await runtime.dispose();
    },
  };
}

/** The rows every input has (its first dimension), or undefined when they disagree. */
function batchRows(inputs: Inputs): number | undefined {
  const firsts = new Set(Object.values(inputs).map((input) => input.dims[0]));
  const [rows] = firsts;
  return firsts.size === 1 && rows !== undefined ? rows : undefined;
}
