import * as Comlink from 'comlink';
import type { Shard, ShardColumn, ShardColumns, ShardInit } from '../scoring/index.js';
import type { ShardApi } from './shard-service.js';

const bufferOf = (view: ArrayBufferView): ArrayBuffer => view.buffer as ArrayBuffer;
const columnBuffer = (column: ShardColumn): ArrayBuffer => bufferOf(column instanceof Float64Array ? column : column.codes);

/** How long a shard worker may take to load its script, its runtime and the model (30 s): past it, the shards are turned off. */
export const SHARD_START_TIMEOUT_MS = 30_000;

/**
 * Starts a shard worker (`shard-entry.ts`) with its session and transform. A worker that dies (a
 * script that does not load, say) rejects its calls, instead of leaving comlink waiting for an answer.
 */
export async function startShardWorker(init: ShardInit): Promise<Shard> {
  const worker = new Worker(new URL('./shard-entry.js', import.meta.url), { type: 'module', name: 'ondevice-shard' });
  const remote = Comlink.wrap<ShardApi>(worker);
  const died = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (event) => reject(new Error(`the shard worker failed: ${event.message || 'it did not load'}`)), {
      once: true,
    });
  });
  died.catch(() => undefined);
  const close = (): void => {
    remote[Comlink.releaseProxy]();
    worker.terminate();
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>(
    (_, reject) =>
      (timer = setTimeout(
        () => reject(new Error(`the shard worker did not start within ${SHARD_START_TIMEOUT_MS} ms`)),
        SHARD_START_TIMEOUT_MS,
      )),
  );
  try {
    const model = init.model.slice();
    await Promise.race([remote.init(Comlink.transfer({ ...init, model }, [model.buffer])), died, timedOut]);
  } catch (error) {
    close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    run: (inputs, wanted) =>
      Promise.race([
        remote.run(
          Comlink.transfer(
            inputs,
            Object.values(inputs).map((input) => bufferOf(input.data)),
          ),
          wanted,
        ),
        died,
      ]),
    scoreColumns: (columns: ShardColumns) =>
      Promise.race([remote.scoreColumns(Comlink.transfer(columns, Object.values(columns).map(columnBuffer))), died]),
    close,
  };
}
