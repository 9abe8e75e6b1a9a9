// Takes the pretrained NSFWJS MobileNetV2 ("mid") graph model out of the nsfwjs package on the npm
// registry, as published, and writes this model's build folder: model.json and its two weight shards
// under their own names, the package's LICENSE, SOURCE.json (package, version, licence, sha256 of the
// tarball and of every file taken), the test sets and parity.json, their expected outputs computed by
// TensorFlow.js in Node on its CPU backend (the reference runtime: plain JavaScript kernels).
//
//   node models/nsfw-mobilenet/extract.mjs [--tarball nsfwjs-4.4.0.tgz]
//
// Without --tarball it runs `npm pack nsfwjs@4.4.0` (the registry only). The tarball's sha256 is
// checked against the one pinned below before anything is taken from it. model-card.json and
// feature-spec.json are written by hand and not touched here.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import vm from 'node:vm';

const PACKAGE = 'nsfwjs';
const VERSION = '4.4.0';
const TARBALL_SHA256 = '585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382';
const MODEL_DIR = 'package/dist/models/mobilenet_v2_mid';
const CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
const SIZE = 224;

const here = dirname(fileURLToPath(import.meta.url));
const build = join(here, 'build');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');


function packFromRegistry(dir) {
  const out = execFileSync('npm', ['pack', `${PACKAGE}@${VERSION}`, '--pack-destination', dir, '--json'], { encoding: 'utf8' });
  return JSON.parse(out)[0].filename;
}

/** The package ships the model as UMD modules (model.json's object, each shard as base64): run in an empty context, never with Node's globals. */
function umdValue(file) {
  const sandbox = { module: { exports: {} } };
  sandbox.exports = sandbox.module.exports;
  vm.runInNewContext(readFileSync(file, 'utf8'), sandbox, { filename: file, timeout: 10_000 });
  return sandbox.module.exports;
}

function extractModel(work) {
  const source = join(work, MODEL_DIR);
  const json = umdValue(join(source, 'model.min.js'));
  if (json.format !== 'graph-model') throw new Error(`expected a graph model, found format ${json.format}`);
  const files = [];
  const write = (name, bytes, from) => {
    writeFileSync(join(build, name), bytes);
    files.push({ file: name, from, bytes: bytes.byteLength, sha256: sha256(bytes) });
  };
  write('model.json', Buffer.from(`${JSON.stringify(json)}\n`), `${MODEL_DIR}/model.min.js (the object it exports)`);
  for (const path of json.weightsManifest.flatMap((group) => group.paths)) {
    const base64 = umdValue(join(source, `${path}.min.js`));
    write(path, Buffer.from(base64, 'base64'), `${MODEL_DIR}/${path}.min.js (the base64 string it exports, decoded)`);
  }
  const license = readFileSync(join(work, 'package/LICENSE'));
  write('LICENSE', license, 'package/LICENSE');
  const pkg = JSON.parse(readFileSync(join(work, 'package/package.json'), 'utf8'));
  const note = {
    package: PACKAGE,
    version: pkg.version,
    license: pkg.license,
    homepage: pkg.homepage,
    tarball: { name: `${PACKAGE}-${VERSION}.tgz`, sha256: TARBALL_SHA256 },
    model: 'MobileNetV2 "mid" (graph model, tfjs-converter), 224x224x3 RGB in [0, 1], 5 classes',
    classes: CLASSES,
    files,
  };
  writeFileSync(join(build, 'SOURCE.json'), `${JSON.stringify(note, null, 1)}\n`);
  return { json, files };
}

/** Deterministic test pictures, 8-bit RGB pixels as an app has them: no third-party images. */
function picture(kind, seed, width, height) {
  const data = new Uint8Array(width * height * 3);
  let state = seed >>> 0;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let v;
        if (kind === 'gradient') v = ((x + y * (c + 1)) / (SIZE * (c + 2))) * 255;
        else if (kind === 'noise') v = random() * 255;
        else if (kind === 'discs') v = Math.hypot((x % 75) - 37, (y % 75) - 37) < 20 + 5 * c ? 230 - 60 * c : 40 + 50 * c;
        else if (kind === 'stripes') v = Math.floor((x + 2 * y) / 14) % 2 === 0 ? 200 : 25 + 60 * c;
        else v = 128 + 100 * Math.sin((x * (c + 1)) / 17) * Math.cos(y / 23);
        data[(y * width + x) * 3 + c] = Math.round(Math.min(255, Math.max(0, v)));
      }
  return { data, width, height };
}

// The end-to-end pictures are 256x192, so the gate checks the resizing too; the confidence ones 224x224.
const E2E = [picture('gradient', 1, 256, 192), picture('noise', 2, 256, 192), picture('discs', 3, 256, 192)];
const CONFIDENCE = [picture('stripes', 4, SIZE, SIZE), picture('waves', 5, SIZE, SIZE)];

async function reference(json, images) {
  const { createRequire } = await import('node:module');
  const require = createRequire(join(here, '../../package.json'));
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  const { loadGraphModel } = require('@tensorflow/tfjs-converter');
  await tf.setBackend('cpu');
  // One buffer: tfjs-core 4.22 misreads a list of shard buffers for this model (CompositeArrayBuffer.slice).
  const shards = json.weightsManifest.flatMap((g) => g.paths).map((p) => readFileSync(join(build, p)));
  const weightData = new Uint8Array(Buffer.concat(shards)).buffer;
  const artifacts = {
    modelTopology: json.modelTopology,
    format: json.format,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData,
    userDefinedMetadata: json.userDefinedMetadata,
  };
  const model = await loadGraphModel(tf.io.fromMemory(artifacts));
  // The package's own preprocessing (nsfwjs 4.4.0 core.js, classify): pixels to float, / 255, then
  // resizeBilinear with alignCorners when the picture is not 224x224.
  const { width, height } = images[0];
  const output = tf.tidy(() => {
    const pixels = tf.tensor(concat(images.map((i) => i.data)), [images.length, height, width, 3], 'int32');
    const normalized = tf.div(tf.cast(pixels, 'float32'), 255);
    const resized = width === SIZE && height === SIZE ? normalized : tf.image.resizeBilinear(normalized, [SIZE, SIZE], true);
    return model.execute(resized);
  });
  const probabilities = Array.from(output.dataSync());
  tf.dispose(output);
  return { probabilities, runtime: `@tensorflow/tfjs-core ${tf.version_core} cpu backend, Node ${process.version}` };
}

function concat(arrays) {
  const all = new Int32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    all.set(a, at);
    at += a.length;
  }
  return all;
}

const pixelsOf = (images) => ({
  dtype: 'U8',
  shape: [images.length, images[0].height, images[0].width, 3],
  data: Uint8Array.from(concat(images.map((i) => i.data))),
});

function safetensors(tensors, metadata) {
  const header = { __metadata__: metadata };
  let offset = 0;
  for (const [name, { dtype, shape, data }] of Object.entries(tensors)) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + text.length) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([length, Buffer.from(text), ...Object.values(tensors).map((t) => Buffer.from(t.data.buffer))]);
}

const rowsOf = (probabilities, n) => Array.from({ length: n }, (_, i) => probabilities.slice(i * 5, i * 5 + 5));

async function writeSetsAndParity({ json }) {
  const e2e = await reference(json, E2E);
  const labels = rowsOf(e2e.probabilities, E2E.length).map((p) => CLASSES[p.indexOf(Math.max(...p))]);
  const e2eBytes = safetensors(
    {
      'pixels.input': pixelsOf(E2E),
      'expected.probabilities': { dtype: 'F32', shape: [E2E.length, 5], data: Float32Array.from(e2e.probabilities) },
    },
    { set: JSON.stringify({ expected: { label: labels } }) },
  );
  writeFileSync(join(build, 'e2e-set.safetensors'), e2eBytes);
  const confidenceBytes = safetensors(
    { 'pixels.input': pixelsOf(CONFIDENCE) },
    { set: JSON.stringify({}) },
  );
  writeFileSync(join(build, 'confidence-set.safetensors'), confidenceBytes);
  const confidence = await reference(json, CONFIDENCE);
  const parity = {
    pretrained: {
      runtime: confidence.runtime,
      set: 'confidence-set.safetensors',
      outputs: { probabilities: rowsOf(confidence.probabilities, CONFIDENCE.length) },
      e2e: { set: 'e2e-set.safetensors', probabilities: rowsOf(e2e.probabilities, E2E.length) },
    },
  };
  writeFileSync(join(build, 'parity.json'), `${JSON.stringify(parity, null, 1)}\n`);
  console.log(`wrote ${build}: e2e ${e2eBytes.byteLength} B, confidence ${confidenceBytes.byteLength} B; labels ${labels.join(', ')}`);
}

const { values } = parseArgs({ options: { tarball: { type: 'string' } } });
const work = mkdtempSync(join(tmpdir(), 'nsfwjs-'));
try {
  const tarball = values.tarball ?? join(work, packFromRegistry(work));
  const tarBytes = readFileSync(tarball);
  if (sha256(tarBytes) !== TARBALL_SHA256) throw new Error(`${tarball}: sha256 ${sha256(tarBytes)}, expected ${TARBALL_SHA256}`);
  execFileSync('tar', ['-xzf', tarball, '-C', work]);
  await writeSetsAndParity(extractModel(work));
} finally {
  rmSync(work, { recursive: true, force: true });
}
