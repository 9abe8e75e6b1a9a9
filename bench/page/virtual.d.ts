// A second instance of onnxruntime-web/wasm (bench/vite.config.ts resolves it): same API, own state.
declare module 'virtual:ort-proxy-instance' {
  export * from 'onnxruntime-web/wasm';
}
