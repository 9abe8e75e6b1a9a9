import { describeUnknown } from '../errors/index.js';
import type { InputTensor, OutputTensor } from './runtime.js';

/*
 * A large batch split by rows across workers, each with its own one-thread session of the model.
 * onnxruntime-web's own threads split each operator's work and meet after it; on the 100k-row
 * house-prices GBM two such threads ran 1.55x one thread, two one-thread workers on half the rows
 * each 1.9x (bench/README.md). The workers need no cross-origin isolation, so a page without it gets
 * the same gain. They start on the first batch large enough and are checked against the worker's own
 * session before any batch goes to them; until then, or after any failure, batches score locally.
 */

/** Batches of fewer rows are scored by the worker's own session: messaging would cost more than it saves. */
export const SHARD_MIN_ROWS = 8192;
/** Rows of the first large batch scored both ways before the shards serve. */
export const PROBE_ROWS = 256;
/** How far a shard's output may stray from the worker's own session on the probe rows (relative, above 1). */
export const PROBE_TOLERANCE = 1e-5;
/** The most shard workers an app may ask for. */
export const MAX_SHARDS = 16;
/** The most shard workers the default starts. */
const MAX_DEFAULT_SHARDS = 4;

export type Inputs = Readonly<Record<string, InputTensor>>;
export type Outputs = Record<string, OutputTensor>;

/** What a shard worker offers (`shard-worker.ts`), reached through comlink. */
export interface Shard {
  /** Scores the inputs, which are transferred to it; their buffers come back with the outputs, to be written again. */
  run(inputs: Inputs, wanted: readonly string[] | undefined): Promise<ShardAnswer>;
  close(): void;
}

export interface ShardAnswer {
  readonly outputs: Outputs;
  readonly inputs: Inputs;
}

/** Input buffers kept per shard between batches, up to this size each (bytes). */
const MAX_SPARE_BYTES = 64 * 1024 * 1024;

/** Starts one shard worker holding a session of `model`; rejects if it cannot. */
export type StartShard = (model: Uint8Array) => Promise<Shard>;

export interface ShardStatus {
  /** Workers a large batch is split across (0: never). */
  readonly workers: number;
  /** `idle` until a batch of `minRows` arrives; `off` after a failure (see `reason`), for good. */
  readonly state: 'idle' | 'starting' | 'ready' | 'off';
  readonly minRows: number;
  /** Batches scored by the shards. */
  readonly batches: number;
  readonly reason?: string;
}

/** The default number of shard workers: the device's cores, up to 4; none on a single core. */
export function defaultShards(): number {
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 1 : 1;
  return cores < 2 ? 0 : Math.min(MAX_DEFAULT_SHARDS, cores);
}

/**
 * Rows [from, to) of each part, as near to equal as rows allow; fewer parts than asked when there
 * are fewer rows.
 */
export function splitRows(rows: number, parts: number): { from: number; to: number }[] {
  const count = Math.max(1, Math.min(parts, rows));
  return Array.from({ length: count }, (_, i) => ({ from: Math.floor((rows * i) / count), to: Math.floor((rows * (i + 1)) / count) }));
}

/**
 * The rows of every input in [from, to), copied (each copy is then transferred to its shard): into
 * the input's spare buffer where there is one large enough, which saves allocating (and the OS
 * zeroing) tens of MB per batch.
 */
export function sliceInputs(inputs: Inputs, from: number, to: number, spares: ReadonlyMap<string, ArrayBuffer> = new Map()): Record<string, InputTensor> {
  const sliced: Record<string, InputTensor> = {};
  for (const [name, { data, dims }] of Object.entries(inputs)) {
    const perRow = rowSize(dims);
    const rows = data.subarray(from * perRow, to * perRow);
    const spare = spares.get(name);
    let copy: InputTensor['data'];
    if (spare !== undefined && spare.byteLength >= rows.byteLength) {
      copy = new (data.constructor as new (buffer: ArrayBuffer, offset: number, length: number) => InputTensor['data'])(spare, 0, rows.length);
      copy.set(rows);
    } else copy = rows.slice();
    sliced[name] = { data: copy, dims: [to - from, ...dims.slice(1)] };
  }
  return sliced;
}

/** The buffers of a shard's inputs, handed back, to copy its next batch into. */
function sparesOf(inputs: Inputs): Map<string, ArrayBuffer> {
  const spares = new Map<string, ArrayBuffer>();
  for (const [name, { data }] of Object.entries(inputs)) {
    if (data.buffer instanceof ArrayBuffer && data.buffer.byteLength <= MAX_SPARE_BYTES) spares.set(name, data.buffer);
  }
  return spares;
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
    const data = new (first.data.constructor as new (length: number) => OutputTensor['data'])(pieces.reduce((sum, p) => sum + p.data.length, 0));
    let at = 0;
    for (const piece of pieces) {
      data.set(piece.data, at);
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
      const a = got.data[i]!;
      const b = expected.data[i]!;
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
 * Shard workers for one model: started by the first batch of `minRows` rows (which itself is scored
 * locally), then checked on that batch's first rows against the local session. From then on
 * `run` splits a large batch across them. Any failure turns the pool off for good, with the reason,
 * and the batch is scored locally: the model keeps serving either way.
 */
export class ShardPool {
  readonly #count: number;
  readonly #model: Uint8Array;
  readonly #start: StartShard;
  readonly #minRows: number;
  #state: ShardStatus['state'] = 'idle';
  #shards: Shard[] = [];
  /** Per shard, its last inputs' buffers. */
  #spares: Map<string, ArrayBuffer>[] = [];
  #reason: string | undefined;
  #batches = 0;
  #starting: Promise<void> | undefined;
  #closed = false;

  constructor(count: number, model: Uint8Array, start: StartShard, minRows = SHARD_MIN_ROWS) {
    this.#count = count;
    // Kept for the workers, started later: the caller's bytes may be reused.
    this.#model = model.slice();
    this.#start = start;
    this.#minRows = minRows;
  }

  status(): ShardStatus {
    return { workers: this.#count, state: this.#state, minRows: this.#minRows, batches: this.#batches, ...(this.#reason === undefined ? {} : { reason: this.#reason }) };
  }

  /** Settles once a start under way has ended (ready or off); at once if none is. */
  async settled(): Promise<void> {
    await this.#starting;
  }

  /**
   * The batch scored by the shards, or undefined when it is to be scored locally (too small, the
   * shards not ready, or they failed on it). `local` scores a few rows in the worker's own session,
   * to check the shards against.
   */
  async run(inputs: Inputs, wanted: readonly string[] | undefined, local: (inputs: Inputs) => Promise<Outputs>): Promise<Outputs | undefined> {
    const rows = batchRows(inputs);
    if (rows === undefined || rows < this.#minRows || this.#state === 'off' || this.#state === 'starting') return undefined;
    if (this.#state === 'idle') {
      this.#state = 'starting';
      // The probe is copied now: the caller reuses its input buffer once this run settles.
      const probe = sliceInputs(inputs, 0, Math.min(PROBE_ROWS, rows));
      this.#starting = this.#startAll(probe, wanted, local);
      return undefined;
    }
    const parts = splitRows(rows, this.#shards.length);
    try {
      const answers = await Promise.all(parts.map(({ from, to }, i) => this.#shards[i]!.run(sliceInputs(inputs, from, to, this.#spares[i]), wanted)));
      this.#spares = answers.map((answer) => sparesOf(answer.inputs));
      const outputs = answers.map((answer) => answer.outputs);
      const joined = joinOutputs(outputs, parts.map(({ from, to }) => to - from));
      this.#batches++;
      return joined;
    } catch (error) {
      this.#off(`a shard failed to score a batch of ${rows} rows: ${describeUnknown(error)}`);
      return undefined;
    }
  }

  close(): void {
    this.#closed = true;
    for (const shard of this.#shards) shard.close();
    this.#shards = [];
    this.#spares = [];
  }

  async #startAll(probe: Inputs, wanted: readonly string[] | undefined, local: (inputs: Inputs) => Promise<Outputs>): Promise<void> {
    const started = await Promise.allSettled(Array.from({ length: this.#count }, () => this.#start(this.#model)));
    const shards = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (this.#closed) return shards.forEach((shard) => shard.close());
    this.#shards = shards;
    if (failed !== undefined) return this.#off(`a shard worker did not start: ${describeUnknown(failed.reason)}`);
    try {
      const expected = await local(probe);
      const rows = batchRows(probe)!;
      for (const shard of shards) {
        const { outputs: got } = await shard.run(sliceInputs(probe, 0, rows), wanted);
        joinOutputs([got], [rows]);
        const difference = outputDifference(got, expected);
        if (!(difference <= PROBE_TOLERANCE)) {
          return this.#off(`a shard's outputs differ from the worker's own session by ${difference.toPrecision(3)} (relative) on ${rows} rows`);
        }
      }
    } catch (error) {
      return this.#off(`checking the shards failed: ${describeUnknown(error)}`);
    }
    if (this.#closed) return;
    this.#state = 'ready';
  }

  #off(reason: string): void {
    this.#state = 'off';
    this.#reason = reason;
    for (const shard of this.#shards) shard.close();
    this.#shards = [];
    this.#spares = [];
  }
}

/** The rows every input has (its first dimension), or undefined when they disagree. */
function batchRows(inputs: Inputs): number | undefined {
  const firsts = new Set(Object.values(inputs).map((input) => input.dims[0]));
  const [rows] = firsts;
  return firsts.size === 1 && rows !== undefined ? rows : undefined;
}
