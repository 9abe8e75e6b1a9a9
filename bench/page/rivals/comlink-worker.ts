import * as Comlink from 'comlink';
import type { ComlinkRivalApi } from '../workers/comlink-worker.js';
import { rowOf, type Rival, type RivalInit } from './rival.js';

export interface ComlinkRival extends Rival {
  noop(): Promise<void>;
  echo<T>(value: T): Promise<T>;
}

/** (e) The plain comlink worker. It scores one row per call: many() is not what it is for. */
export async function createComlinkRival(init: RivalInit): Promise<ComlinkRival> {
  const worker = new Worker(new URL('../workers/comlink-worker.ts', import.meta.url), { type: 'module', name: 'bench-comlink-worker' });
  const remote = Comlink.wrap<ComlinkRivalApi>(worker);
  await remote.init(init.model, init.threads, init.output);
  return {
    id: 'comlink-worker',
    consumes: false,
    // slice(): structured clone of a subarray would copy the whole matrix's buffer.
    one: (r) => remote.score(rowOf(init.features, init.width, r).slice()),
    many: () => Promise.reject(new Error('comlink-worker scores one row per call')),
    noop: () => remote.noop(),
    echo: async <T>(value: T) => (await remote.echo(value)) as T,
    dispose: async () => {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
