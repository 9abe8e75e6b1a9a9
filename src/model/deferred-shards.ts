import type { Runtime } from '../runtimes/index.js';
import { importShardPool, type ColumnShards, type ShardInit, type StartShard } from '../scoring/index.js';
import type { ShardPool } from '../scoring/shards.js';
import { SHARD_MIN_ROWS } from '../scoring/shard-rows.js';

type Outputs = Awaited<ReturnType<Runtime['run']>>;
type Inputs = Parameters<Runtime['run']>[0];

/**
 * The shard pool behind a runtime, its code imported only when the first batch large enough for
 * shards comes: a start (and an app that never scores large batches) never fetches it. Until then
 * every batch is the worker's own, as it is while the pool starts.
 */
export class DeferredShards implements ColumnShards {
  readonly #count: number;
  readonly #init: ShardInit;
  readonly #start: StartShard;
  #pool: ShardPool | undefined;
  #loading: Promise<ShardPool | undefined> | undefined;
  #closed = false;

  constructor(count: number, init: ShardInit, start: StartShard) {
    this.#count = count;
    this.#init = init;
    this.#start = start;
  }

  /** `runtime` with its large batches split across the shards once they are ready; disposing it ends them. */
  wrap(runtime: Runtime): Runtime {
    return {
      ...runtime,
      run: async (inputs, wanted) =>
        (await this.#run(inputs, wanted, (probe) => runtime.run(probe, wanted))) ?? runtime.run(inputs, wanted),
      shards: () =>
        this.#pool?.status() ?? { workers: this.#count, state: this.#closed ? 'off' : 'idle', minRows: SHARD_MIN_ROWS, batches: 0 },
      dispose: async () => {
        this.#closed = true;
        this.#pool?.close();
        await runtime.dispose();
      },
    };
  }

  accepts(columns: unknown): boolean {
    return this.#pool?.accepts(columns) ?? false;
  }

  async scoreColumns(columns: unknown, rows: number): Promise<Outputs | undefined> {
    return this.#pool?.scoreColumns(columns, rows);
  }

  async #run(
    inputs: Inputs,
    wanted: readonly string[] | undefined,
    local: (probe: Inputs) => Promise<Outputs>,
  ): Promise<Outputs | undefined> {
    const pool = this.#pool ?? (largest(inputs) >= SHARD_MIN_ROWS ? await this.#load() : undefined);
    return pool?.run(inputs, wanted, local);
  }

  #load(): Promise<ShardPool | undefined> {
    this.#loading ??= importShardPool().then(
      (code) => {
        if (!this.#closed) this.#pool = new code.ShardPool(this.#count, this.#init, this.#start);
        return this.#pool;
      },
      // Without its code the worker scores every batch alone.
      () => undefined,
    );
    return this.#loading;
  }
}

function largest(inputs: Inputs): number {
  return Math.max(0, ...Object.values(inputs).map((input) => input.dims[0] ?? 0));
}
