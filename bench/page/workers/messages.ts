// Messages of the hand-written worker (rival b): no comlink, typed arrays transferred both ways.
import type { Dtype, FeatureArray } from '../rivals/rival.js';

export type RawRequest =
  | {
      readonly type: 'init';
      readonly model: ArrayBuffer;
      readonly threads: number;
      readonly output: string;
      readonly width: number;
      readonly dtype: Dtype;
    }
  | { readonly type: 'run'; readonly id: number; readonly data: FeatureArray; readonly rows: number }
  | { readonly type: 'ping'; readonly id: number };

export type RawReply =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly data: Float32Array | Float64Array }
  | { readonly type: 'pong'; readonly id: number }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
