// Vite's `?url` imports: the emitted asset's URL. tsconfig.json gets this from `vite/client`; the worker
// and Node configs (which do not load Vite's types) get it from here.
declare module '*.wasm?url' {
  const url: string;
  export default url;
}
