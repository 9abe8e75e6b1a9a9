// The library's public API on `window`, for the browser tests (e2e/) to call from page.evaluate.
import * as ondevice from '../src/index.js';
import { Outbox } from '../src/monitor/outbox.js';
import { scenarios, type Scenarios } from './scenarios.js';
import { storage } from './storage.js';

export type HarnessApi = typeof ondevice;

declare global {
  interface Window {
    ondevice: HarnessApi;
    /**
     * Internals the browser tests reach before the public API wires them (the telemetry outbox), and
     * what a call's refusal looks like to an app (null when it is answered).
     */
    ondeviceTesting: {
      Outbox: typeof Outbox;
      refusal: typeof refusal;
      startWorker: typeof startWorker;
      storage: typeof storage;
      /** onnxruntime-web itself, for the stream bench's bare `session.run` rival (a chunk of its own, loaded on demand). */
      ort: () => Promise<typeof import('onnxruntime-web/wasm')>;
    };
    /** The cross-engine tests' scenarios (e2e/engines.spec.ts). */
    ondeviceScenarios: Scenarios;
  }
}

export interface Refusal {
  readonly isInputError: boolean;
  readonly code: string;
  readonly row: unknown;
  readonly field: unknown;
  readonly message: string;
}

async function refusal(call: () => Promise<unknown>): Promise<Refusal | null> {
  try {
    await call();
    return null;
  } catch (error) {
    const e = error as InstanceType<typeof ondevice.InputError>;
    return {
      isInputError: error instanceof ondevice.InputError,
      code: e.code,
      row: e.details.row,
      field: e.details.field,
      message: e.message,
    };
  }
}

window.ondevice = ondevice;
/** The library's worker started by the app, as a bundler builds it (`load(url, { worker })`). */
function startWorker(): Worker {
  return new Worker(new URL('../src/worker/entry.ts', import.meta.url), { type: 'module', name: 'app-started-ondevice' });
}

window.ondeviceTesting = { Outbox, refusal, startWorker, storage, ort: () => import('onnxruntime-web/wasm') };
window.ondeviceScenarios = scenarios;
document.body.dataset.ready = 'true';
