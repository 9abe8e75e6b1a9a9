import type { Rival, RivalInit } from './rival.js';
import { createOrtRival } from './ort-session.js';

/** (a) onnxruntime-web on the main thread. Imported on demand, so a start measures its download too. */
export async function createOrtMainRival(init: RivalInit): Promise<Rival> {
  return createOrtRival('ort-main', await import('onnxruntime-web/wasm'), init);
}
