/** What every model runtime offers: named numeric tensors in, named numeric tensors out. */
export interface Runtime {
  readonly name: RuntimeName;
  /** The execution provider or backend in use, e.g. `wasm`. */
  readonly backend: string;
  /** Threads the runtime scores with. */
  readonly threads: number;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(inputs: Readonly<Record<string, InputTensor>>): Promise<Record<string, OutputTensor>>;
  dispose(): Promise<void>;
}

export interface InputTensor {
  readonly data: Float32Array | Float64Array | Int32Array;
  readonly dims: readonly number[];
}

export interface OutputTensor {
  /** int64 outputs are converted to float64: class indices and counts fit exactly. */
  readonly data: Float32Array | Float64Array | Int32Array;
  readonly dims: readonly number[];
}

export type RuntimeName = 'onnxruntime-web' | 'tensorflow-js';
