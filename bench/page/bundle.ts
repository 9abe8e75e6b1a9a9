// The rivals read the same packed bundle ondevice loads (bench/public/bundles/<name>/), straight from the
// server: channel -> live manifest -> files. Only what the rivals need is read, and checked as read.

export type Task =
  | { readonly kind: 'classification'; readonly classes: readonly string[]; readonly probabilities: string }
  | { readonly kind: 'regression'; readonly value: string; readonly inverse?: 'expm1' };

export interface Bundle {
  readonly name: string;
  readonly runtime: 'onnxruntime-web' | 'tensorflow-js';
  readonly task: Task;
  /** URL of a file of the live version, by its manifest key (`model`, `weights`, `featureSpec`, ...). */
  url(key: string): string;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what}: expected an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what}: expected a string`);
  return value;
}

export async function fetchJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as unknown;
}

export async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

export function channelUrl(name: string): string {
  return new URL(`bundles/${name}/channel.json`, location.href).href;
}

export async function openBundle(name: string): Promise<Bundle> {
  const channel = channelUrl(name);
  const live = record(record(await fetchJson(channel), 'channel').live, 'channel.live');
  const manifestUrl = new URL(text(live.manifest, 'channel.live.manifest'), channel).href;
  const manifest = record(await fetchJson(manifestUrl), 'manifest');
  const runtime = text(manifest.runtime, 'manifest.runtime');
  if (runtime !== 'onnxruntime-web' && runtime !== 'tensorflow-js') throw new Error(`unknown runtime ${runtime}`);
  const task = record(manifest.task, 'manifest.task');
  const files = record(manifest.files, 'manifest.files');
  return {
    name,
    runtime,
    task:
      task.kind === 'classification'
        ? {
            kind: 'classification',
            classes: (task.classes as unknown[]).map((c) => text(c, 'class')),
            probabilities: text(task.probabilities, 'task.probabilities'),
          }
        : { kind: 'regression', value: text(task.value, 'task.value'), ...(task.inverse === 'expm1' ? { inverse: 'expm1' as const } : {}) },
    url: (key) => new URL(text(record(files[key], `manifest.files.${key}`).path, `manifest.files.${key}.path`), manifestUrl).href,
  };
}

/** The rows of the bundle's confidence set (raw inputs, null = missing). */
export async function confidenceRows(bundle: Bundle): Promise<Record<string, Json>[]> {
  const set = record(await fetchJson(bundle.url('confidenceSet')), 'confidence set');
  if (!Array.isArray(set.rows)) throw new Error('confidence set: rows is not an array');
  return set.rows.map((row, i) => record(row, `confidence set row ${i}`) as Record<string, Json>);
}

/** The model input's dtype, from the feature spec (`output.dtype`). */
export async function inputDtype(bundle: Bundle): Promise<'float32' | 'float64'> {
  const spec = record(await fetchJson(bundle.url('featureSpec')), 'feature spec');
  const dtype = record(spec.output, 'feature spec output').dtype;
  if (dtype !== 'float32' && dtype !== 'float64') throw new Error(`feature spec: dtype ${String(dtype)}`);
  return dtype;
}
