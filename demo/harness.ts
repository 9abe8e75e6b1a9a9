// The library's public API on `window`, for the browser tests (e2e/) to call from page.evaluate.
import * as ondevice from '../src/index.js';
import { Outbox } from '../src/monitor/outbox.js';

export type HarnessApi = typeof ondevice;

declare global {
  interface Window {
    ondevice: HarnessApi;
    /** Internals the browser tests reach before the public API wires them (the telemetry outbox). */
    ondeviceTesting: { Outbox: typeof Outbox };
  }
}

window.ondevice = ondevice;
window.ondeviceTesting = { Outbox };
document.body.dataset.ready = 'true';
