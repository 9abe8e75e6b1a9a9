/** What the device offers, probed without loading any runtime. */

/** The slice of WebGPU this library needs; TypeScript's DOM and WebWorker libs do not declare `navigator.gpu`. */
interface GpuLike {
  requestAdapter(): Promise<object | null>;
}

/**
 * Why WebGPU cannot be used here, or `undefined` when an adapter can be had. Asked before the WebGPU
 * build of a runtime is imported, so a device without WebGPU never downloads it.
 */
export async function webGpuUnavailable(): Promise<string | undefined> {
  const gpu = typeof navigator === 'undefined' ? undefined : (navigator as { gpu?: GpuLike }).gpu;
  if (gpu === undefined) return 'WebGPU is not available: navigator.gpu is missing (no WebGPU in this browser, or not a secure context)';
  try {
    const adapter = await gpu.requestAdapter();
    return adapter === null ? 'WebGPU is not available: navigator.gpu.requestAdapter() gave no adapter' : undefined;
  } catch (error) {
    return `WebGPU is not available: navigator.gpu.requestAdapter() failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}
