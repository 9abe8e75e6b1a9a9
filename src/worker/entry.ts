// The ondevice worker's entry. A leaf: nothing imports it, and it imports the service only
// dynamically, so no chunk of the build imports this file back (WebKit would run it a second time).
// Type-checked on its own with lib WebWorker (tsconfig.worker.json).
import { holdMessages, rethrowLater } from './held-messages.js';

const held = holdMessages();
import('./serve.js').then(({ serve }) => serve(held), rethrowLater);
