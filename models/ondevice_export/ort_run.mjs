// Scores ONNX models with onnxruntime-web's WASM build in Node, for the exporter's tests.
// Usage: node ort_run.mjs ORT_MODULE_PATH cases.json  ->  JSON on stdout.
// cases.json: [{name, model, dtype: "float64"|"float32", features: raw little-endian float64 file, rows, columns}]
// Features travel as raw float64 bytes because JSON cannot carry NaN (missing values are under test).
// Output: {name: {output: [numbers, NaN as null]} or {error: message}}; int64 outputs come back as numbers.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [ortPath, casesPath] = process.argv.slice(2);
const ort = await import(pathToFileURL(ortPath).href);
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

const out = {};
for (const c of JSON.parse(readFileSync(casesPath, 'utf8'))) {
  try {
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(c.model)));
    const bytes = readFileSync(c.features);
    const f64 = new Float64Array(bytes.buffer, bytes.byteOffset, c.rows * c.columns);
    const data = c.dtype === 'float64' ? Float64Array.from(f64) : Float32Array.from(f64);
    const result = await session.run({ [c.input ?? 'features']: new ort.Tensor(c.dtype, data, [c.rows, c.columns]) });
    const values = {};
    for (const [name, tensor] of Object.entries(result)) {
      values[name] = Array.from(tensor.data, (v) => (typeof v === 'bigint' ? Number(v) : v));
    }
    out[c.name] = values;
    await session.release();
  } catch (error) {
    out[c.name] = { error: String(error?.message ?? error) };
  }
}
console.log(JSON.stringify(out));
