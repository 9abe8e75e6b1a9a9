import { exposeOnce } from './expose.js';
import type { HeldMessages } from './held-messages.js';
import { ModelService } from './service.js';

/** Starts the ondevice worker's service (entry.ts loads this module). */
export function serve(held: HeldMessages): void {
  exposeOnce(new ModelService(), held);
}
