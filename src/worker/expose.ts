import * as Comlink from 'comlink';
import type { HeldMessages } from './held-messages.js';
import { installErrorTransfer } from './protocol.js';

/** Set on the endpoint once a service answers there: seen by every copy of this module. */
const EXPOSED = Symbol.for('ondevice.exposed');

/**
 * Makes `service` answer the page's calls in this worker, then hands it the messages held while it
 * loaded. At most once per worker, whatever evaluates this code: two services on one channel would
 * both answer every call (WebKit evaluates a module worker's main script again when a chunk imports
 * it; the entries are leaves so that cannot happen, and this refuses it if it ever did).
 */
export function exposeOnce(
  service: object,
  held: HeldMessages,
  endpoint: Comlink.Endpoint = globalThis as unknown as Comlink.Endpoint,
): void {
  const marked = endpoint as Comlink.Endpoint & { [EXPOSED]?: true };
  if (marked[EXPOSED]) throw new Error('ondevice: a service already answers on this channel; a second one was refused');
  marked[EXPOSED] = true;
  installErrorTransfer();
  Comlink.expose(service, endpoint);
  held.release();
}
