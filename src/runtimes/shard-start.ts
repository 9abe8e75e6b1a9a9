import * as Comlink from 'comlink';
import type { ShardWorkerApi } from './shard-worker.js';
import type { Inputs, Shard } from './shards.js';

/**
 * Starts a shard worker (`shard-worker.ts`) and its session of `model`. A worker that dies (a script
 * that does not load, say) rejects every call, instead of leaving comlink waiting for an answer.
 */
export async function startShardWorker(model: Uint8Array): Promise<Shard> {
  const worker = new Worker(new URL('./shard-worker.js', import.meta.url), { type: 'module', name: 'ondevice-shard' });
  const remote = Comlink.wrap<ShardWorkerApi>(worker);
  const died = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (event) => reject(new Error(`the shard worker failed: ${event.message || 'it did not load'}`)), { once: true });
  });
  died.catch(() => undefined);
  const close = (): void => {
    remote[Comlink.releaseProxy]();
    worker.terminate();
  };
  try {
    const bytes = model.slice();
    await Promise.race([remote.init(Comlink.transfer(bytes, [bytes.buffer])), died]);
  } catch (error) {
    close();
    throw error;
  }
  return {
    run: (inputs: Inputs, wanted) => Promise.race([remote.run(Comlink.transfer(inputs, Object.values(inputs).map((input) => input.data.buffer as ArrayBuffer)), wanted), died]),
    close,
  };
}
