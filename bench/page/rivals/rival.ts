import type { RivalId } from '../../protocol.js';

export type FeatureArray = Float32Array | Float64Array;
export type Dtype = 'float32' | 'float64';

/** What every rival is given: the model and a ready feature matrix of the confidence-set rows. */
export interface RivalInit {
  /** model.onnx (ONNX rivals). */
  readonly model: Uint8Array;
  readonly dtype: Dtype;
  readonly width: number;
  /** The output ondevice reads: the class probabilities, or the regression value. */
  readonly output: string;
  /** onnxruntime-web WASM threads: the same as ondevice's runtime uses. */
  readonly threads: number;
  /** Confidence-set rows x width, in the model's input dtype (the research features). */
  readonly features: FeatureArray;
}

export interface Rival {
  readonly id: RivalId;
  /** Whether many() takes its matrix's buffer away (transfers it): the caller hands it a copy. */
  readonly consumes: boolean;
  /** Scores confidence row `r` alone (a 1 x width tensor); resolves with its output values. */
  one(r: number): Promise<ArrayLike<number>>;
  /** Scores a rows x width matrix in one run; resolves with the output values. */
  many(matrix: FeatureArray, rows: number): Promise<ArrayLike<number>>;
  dispose(): Promise<void>;
}

export function rowOf(features: FeatureArray, width: number, r: number): FeatureArray {
  return features.subarray(r * width, (r + 1) * width);
}
