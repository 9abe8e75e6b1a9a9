// What an app's `import { load } from 'ondevice'` pulls onto the main thread (tree-shaken): bench/sizes.ts builds it.
export { load } from '../../src/index.js';
