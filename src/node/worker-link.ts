/// <reference path="./comlink-node-adapter.d.ts" />
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { ServiceEndpoint, ServiceLink } from '../client/model.js';
import { ScoringError } from '../errors/index.js';
import { PROTOCOL_VERSION, installErrorTransfer, type WorkerApi } from '../worker/protocol.js';

/**
 * The service in a worker thread: the app's thread then lays out and sends the next batch while
 * the worker scores the last one. A worker that exits or fails rejects every call still waiting.
 */
export async function startThreadLink(): Promise<ServiceLink> {
  installErrorTransfer();
  const fromSources = import.meta.url.endsWith('.ts');
  const url = new URL(`./worker-entry.${fromSources ? 'ts' : 'js'}`, import.meta.url);
  // From TypeScript sources (this repository's tests and CLI), the worker registers tsx first.
  const worker = fromSources
    ? new Worker(`import('tsx/esm/api').then((tsx) => tsx.register()).then(() => import(${JSON.stringify(url.href)}))`, { eval: true })
    : new Worker(url);
  const lost = new Promise<never>((_, reject) => {
    const fail = (why: string): void =>
      reject(
        new ScoringError('WORKER_LOAD_FAILED', `the ondevice worker thread (${url.href}) ${why}`, { worker: 'ondevice', url: url.href }),
      );
    worker.once('error', (error: unknown) => fail(`failed: ${error instanceof Error ? error.message : String(error)}`));
    worker.once('exit', (code) => fail(`exited (${code})`));
  });
  lost.catch(() => undefined);
  const endpoint = Comlink.wrap<WorkerApi>(nodeEndpoint(worker)) as unknown as ServiceEndpoint & { [Comlink.releaseProxy](): void };
  const close = (): void => {
    endpoint[Comlink.releaseProxy]();
    void worker.terminate();
  };
  try {
    const hello = await Promise.race([endpoint.hello(), lost]);
    if (hello.protocol !== PROTOCOL_VERSION)
      throw new ScoringError(
        'WORKER_LOAD_FAILED',
        `the ondevice worker thread speaks protocol ${hello.protocol}, not ${PROTOCOL_VERSION}`,
        {},
      );
  } catch (error) {
    close();
    throw error;
  }
  return { endpoint, lost, close };
}
