import type { Rival, RivalInit } from './rival.js';
import { createOrtRival } from './ort-session.js';

/** (c) onnxruntime-web's proxy worker, from its own module instance (its own `env`). */
export async function createOrtProxyRival(init: RivalInit): Promise<Rival> {
  return createOrtRival('ort-proxy', await import('virtual:ort-proxy-instance'), init);
}
