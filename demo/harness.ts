// The library's public API on `window`, for the browser tests (e2e/) to call from page.evaluate.
import * as ondevice from '../src/index.js';

export type HarnessApi = typeof ondevice;

declare global {
  interface Window {
    ondevice: HarnessApi;
  }
}

window.ondevice = ondevice;
document.body.dataset.ready = 'true';
