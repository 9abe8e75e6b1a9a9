import type { WorkerApi } from '../worker/protocol.js';
import type { ServiceEndpoint, ServiceLink } from './model.js';

/**
 * The service in this thread (Node, the CLI, tests): every method answers a promise, as across a
 * worker, and a method that throws rejects instead.
 */
export function inThreadLink(service: WorkerApi): ServiceLink {
  const endpoint = new Proxy({} as ServiceEndpoint, {
    get(_, name: string | symbol) {
      const method = (service as unknown as Record<string | symbol, unknown>)[name];
      if (typeof method !== 'function') return undefined;
      return (...args: unknown[]) => Promise.resolve().then(() => (method as (...a: unknown[]) => unknown).apply(service, args));
    },
  });
  return { endpoint, lost: new Promise<never>(() => undefined), close: () => undefined };
}
