// (b) onnxruntime-web in a hand-written dedicated worker: postMessage with transferred typed arrays.
// Type-checked with the DOM lib (one tsconfig for the bench): only APIs a worker shares with a window are used.
import type { InferenceSession } from 'onnxruntime-web/wasm';
import type { RawReply, RawRequest } from './messages.js';

// Imported on demand, not statically: onnxruntime-web starts its WASM threads from the script that
// holds it (import.meta.url). Inlined here, each thread would run this file and its onmessage
// handler would take the thread's messages; in a chunk of its own, threads load only that chunk.
const ortModule = import('onnxruntime-web/wasm');

let session: InferenceSession | undefined;
let input = '';
let output = '';
let width = 0;

const reply = (message: RawReply, transfer: Transferable[] = []): void => self.postMessage(message, { transfer });

self.onmessage = async (event: MessageEvent<RawRequest>): Promise<void> => {
  const request = event.data;
  try {
    const ort = await ortModule;
    if (request.type === 'ping') return reply({ type: 'pong', id: request.id });
    if (request.type === 'init') {
      ort.env.wasm.numThreads = request.threads;
      ort.env.wasm.proxy = false;
      ort.env.logLevel = 'error';
      session = await ort.InferenceSession.create(new Uint8Array(request.model), {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
      });
      input = session.inputNames[0]!;
      output = request.output;
      width = request.width;
      return reply({ type: 'ready' });
    }
    const results = await session!.run({ [input]: new ort.Tensor(request.data, [request.rows, width]) });
    const data = results[output]?.data;
    if (!(data instanceof Float32Array || data instanceof Float64Array)) throw new Error(`output ${output} is not float`);
    reply({ type: 'result', id: request.id, data }, [data.buffer as ArrayBuffer]);
  } catch (error) {
    reply({
      type: 'error',
      id: request.type === 'init' ? -1 : request.id,
      message: error instanceof Error ? error.message : String(error),
    });
  }
};
