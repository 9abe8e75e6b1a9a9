// Absurd bundles: a correctly hashed (unsigned) bundle whose feature spec or manifest asks for too
// much: a category with more levels than the ceiling, batch and string limits past the library's
// maxima, JSON nested thousands deep, variants or files by the thousand; or a value replaced by
// any JSON at all. Past a ceiling it must be refused, typed; within one it may load or be refused.
import fc from 'fast-check';
import { contentHashOf, type BundleFiles as ManifestFiles } from '../../src/bundle/index.js';
import { SPEC_CEILINGS } from '../../src/features/spec.js';
import { MAX_JSON_DEPTH } from '../../src/bundle/download.js';
import { checkLoad, sha256, text, utf8, type Expected, type FuzzFixture } from './fixture.js';
import type { Outcome } from './verdict.js';

type Json = Record<string, unknown>;

export type AbsurdCase =
  | { readonly kind: 'levels'; readonly count: number }
  | { readonly kind: 'maxBatchRows'; readonly value: number }
  | { readonly kind: 'maxStringLength'; readonly value: number }
  | { readonly kind: 'deep-spec'; readonly depth: number }
  | { readonly kind: 'deep-manifest'; readonly depth: number }
  | { readonly kind: 'variants'; readonly count: number }
  | { readonly kind: 'files'; readonly count: number }
  | { readonly kind: 'any-json'; readonly inManifest: boolean; readonly path: readonly number[]; readonly value: unknown };

const around = (ceiling: number, top: number): fc.Arbitrary<number> =>
  fc.oneof(fc.integer({ min: 1, max: ceiling }), fc.integer({ min: ceiling + 1, max: top }));

export const absurdCase: fc.Arbitrary<AbsurdCase> = fc.oneof(
  fc.record({ kind: fc.constant('levels' as const), count: around(SPEC_CEILINGS.levels, 3 * SPEC_CEILINGS.levels) }),
  fc.record({
    kind: fc.constant('maxBatchRows' as const),
    value: fc.oneof(around(SPEC_CEILINGS.maxBatchRows, 1e15), fc.constantFrom(0, -1, 0.5, 1e308)),
  }),
  fc.record({
    kind: fc.constant('maxStringLength' as const),
    value: fc.oneof(around(SPEC_CEILINGS.maxStringLength, 2 ** 40), fc.constantFrom(0, -3, 2.5)),
  }),
  fc.record({ kind: fc.constant('deep-spec' as const), depth: fc.integer({ min: 1, max: 100_000 }) }),
  fc.record({ kind: fc.constant('deep-manifest' as const), depth: fc.integer({ min: 1, max: 100_000 }) }),
  fc.record({ kind: fc.constant('variants' as const), count: fc.integer({ min: 1, max: 30_000 }) }),
  fc.record({ kind: fc.constant('files' as const), count: fc.integer({ min: 1, max: 30_000 }) }),
  fc.record({
    kind: fc.constant('any-json' as const),
    inManifest: fc.boolean(),
    path: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    value: fc.jsonValue({ maxDepth: 3 }),
  }),
);

/** Where deep nesting goes; written as text, since JSON.stringify recurses and would overflow the stack. */
const DEEP = '\u0000deep';

/** `json` as JSON text, a value nested `depth` deep where DEEP stands. */
function serialize(json: Json, depth: number): Uint8Array {
  const written = JSON.stringify(json);
  return utf8(written.replace(JSON.stringify(DEEP), `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`));
}

/** Replaces the value at `path` (indices into each level's keys) with `value`. */
function replaceAt(root: Json, path: readonly number[], value: unknown): void {
  let node: Json = root;
  for (const [i, step] of path.entries()) {
    const keys = Object.keys(node);
    if (keys.length === 0) return;
    const key = keys[step % keys.length]!;
    const next = node[key];
    if (i === path.length - 1 || typeof next !== 'object' || next === null) {
      node[key] = value;
      return;
    }
    node = next as Json;
  }
}

/** Alters the spec or manifest as the case says; what must then happen. */
function alter(test: AbsurdCase, spec: Json, manifest: Json): Expected {
  const limits = (): Json => (spec.limits ??= {}) as Json;
  const island = (): Json =>
    ((spec.features as Json[]).find((f) => f.field === 'island')!.steps as Json[]).find((s) => s.op === 'one_hot')!;
  switch (test.kind) {
    case 'levels':
      island().categories = Array.from({ length: test.count }, (_, i) => `level-${i}`);
      return test.count > SPEC_CEILINGS.levels ? 'refuse' : 'either';
    case 'maxBatchRows':
    case 'maxStringLength': {
      limits()[test.kind] = test.value;
      const ok = Number.isInteger(test.value) && test.value >= 1 && test.value <= SPEC_CEILINGS[test.kind];
      return ok ? 'either' : 'refuse';
    }
    case 'deep-spec':
    case 'deep-manifest':
      (test.kind === 'deep-spec' ? spec : manifest).notes = DEEP;
      return test.depth + 1 > MAX_JSON_DEPTH ? 'refuse' : 'either';
    case 'variants':
      manifest.variants = Array.from({ length: test.count }, (_, i) => ({ name: `v${i}`, backends: ['wasm'] }));
      return 'refuse';
    case 'files':
      for (let i = 0; i < test.count; i++) (manifest.files as Json)[`extra${i}`] = { path: `x${i}`, size: 1, sha256: '0'.repeat(64) };
      return 'refuse';
    case 'any-json':
      replaceAt(test.inManifest ? manifest : spec, test.path, test.value);
      return 'either';
  }
}

/** The bundle with its spec and manifest rewritten, every hash and size made to match again. */
async function rehashed(fixture: FuzzFixture, spec: Json, manifest: Json, depth: number): Promise<Map<string, Uint8Array>> {
  const files = new Map(fixture.bundle);
  const specBytes = serialize(spec, depth);
  files.set('1.0.0/feature-spec.json', specBytes);
  const listed = manifest.files as Record<string, Json>;
  if (typeof listed === 'object' && listed !== null && typeof listed.featureSpec === 'object' && listed.featureSpec !== null) {
    listed.featureSpec = { ...listed.featureSpec, size: specBytes.byteLength, sha256: sha256(specBytes) };
    manifest.contentHash = await contentHashOf(listed as unknown as ManifestFiles, async (bytes) => sha256(bytes)).catch(
      () => manifest.contentHash,
    );
  }
  const manifestBytes = serialize(manifest, depth);
  files.set('1.0.0/manifest.json', manifestBytes);
  const channel = JSON.parse(text(files.get('channel.json')!)) as { live: Json };
  channel.live = { ...channel.live, sha256: sha256(manifestBytes) };
  files.set('channel.json', utf8(JSON.stringify(channel)));
  return files;
}

export async function checkAbsurd(fixture: FuzzFixture, test: AbsurdCase): Promise<Outcome> {
  const spec = JSON.parse(text(fixture.bundle.get('1.0.0/feature-spec.json')!)) as Json;
  const manifest = JSON.parse(text(fixture.bundle.get('1.0.0/manifest.json')!)) as Json;
  const expected = alter(test, spec, manifest);
  const depth = test.kind === 'deep-spec' || test.kind === 'deep-manifest' ? test.depth : 0;
  return checkLoad(fixture.serve(await rehashed(fixture, spec, manifest, depth)), expected);
}
