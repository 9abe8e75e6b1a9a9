import { RUNTIME_PACKAGES, type RuntimeProvider } from './runtime.js';

/**
 * Stands in for `tfjs.ts` in an app built without TensorFlow.js (`ondevice/vite` swaps it in when
 * no bundle of the app needs it, or TensorFlow.js is not installed): loading a TensorFlow.js bundle
 * then fails with `ScoringError` `RUNTIME_MISSING` saying what to install.
 */
export const tfjsProvider: RuntimeProvider = {
  name: 'tensorflow-js',
  backends: {},
  async auto() {
    return [];
  },
  missing: {
    packages: RUNTIME_PACKAGES['tensorflow-js'],
    reason: 'it was built without TensorFlow.js, since none of the bundles ondevice/vite was given needs it',
  },
};
