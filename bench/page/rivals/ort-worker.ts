import type { RawReply, RawRequest } from '../workers/messages.js';
import { rowOf, type FeatureArray, type Rival, type RivalInit } from './rival.js';

/** The client side of the hand-written worker (rival b), also used for a bare postMessage round trip. */
export interface OrtWorkerRival extends Rival {
  ping(): Promise<void>;
}

export async function createOrtWorkerRival(init: RivalInit): Promise<OrtWorkerRival> {
  const worker = new Worker(new URL('../workers/ort-worker.ts', import.meta.url), { type: 'module', name: 'bench-ort-worker' });
  const pending = new Map<number, { resolve: (reply: RawReply) => void; reject: (error: Error) => void }>();
  let next = 0;
  let ready: { resolve: () => void; reject: (error: Error) => void } | undefined;
  worker.onmessage = (event: MessageEvent<RawReply>) => {
    const message = event.data;
    if (message.type === 'ready') return ready?.resolve();
    if (message.type === 'error' && message.id === -1) return ready?.reject(new Error(message.message));
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.type === 'error') waiter?.reject(new Error(message.message));
    else waiter?.resolve(message);
  };
  const send = (request: RawRequest, transfer: Transferable[] = []): void => worker.postMessage(request, transfer);
  const call = (make: (id: number) => RawRequest, transfer: Transferable[] = []): Promise<RawReply> =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      send(make(id), transfer);
    });
  const run = async (data: FeatureArray, rows: number): Promise<ArrayLike<number>> => {
    const answer = await call((id) => ({ type: 'run', id, data, rows }), [data.buffer as ArrayBuffer]);
    if (answer.type !== 'result') throw new Error(`ort-worker: unexpected ${answer.type}`);
    return answer.data;
  };
  await new Promise<void>((resolve, reject) => {
    ready = { resolve, reject };
    const model = init.model.slice().buffer;
    send({ type: 'init', model, threads: init.threads, output: init.output, width: init.width, dtype: init.dtype }, [model]);
  });
  return {
    id: 'ort-worker',
    consumes: true,
    // A copy of the row per call: it is transferred, and transferring a subarray would take the whole matrix.
    one: (r) => run(rowOf(init.features, init.width, r).slice(), 1),
    many: run,
    ping: async () => void (await call((id) => ({ type: 'ping', id }))),
    dispose: async () => worker.terminate(),
  };
}
