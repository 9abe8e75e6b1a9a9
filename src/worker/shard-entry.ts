// A shard worker's entry, started by the ondevice worker (never by the page). A leaf, as entry.ts:
// its service is imported dynamically, so no chunk imports this file back.
import { holdMessages, rethrowLater } from './held-messages.js';

const held = holdMessages();
import('./shard-service.js').then(({ serve }) => serve(held), rethrowLater);
