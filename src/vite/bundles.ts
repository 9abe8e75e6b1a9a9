import { cp, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve, sep } from 'node:path';
import { presentRoles } from '../bundle/index.js';
import type { RuntimeName } from '../runtimes/index.js';
import { readChannelFile, CHANNEL_FILE } from '../cli/channel-file.js';
import { readLocalBundle } from '../cli/local-bundle.js';
import { findBuildFolders, pack, SOURCE_FILES } from '../cli/pack.js';
import { BundleError } from '../errors/index.js';

/** A bundle as the app serves it: its folder under the staging folder, and what its live version needs. */
export interface StagedBundle {
  readonly name: string;
  readonly liveVersion: string;
  readonly runtime: RuntimeName;
  /** The folder the app serves as `<path>/<name>/`. */
  readonly dir: string;
  /** Paths, relative to `dir`, of what a start needs: channel.json (and its signature) and the live version's files. */
  readonly liveFiles: readonly string[];
  /** Where it came from, for messages. */
  readonly source: string;
}

export interface Staged {
  /** Holds one folder per bundle; removed by `dispose`. */
  readonly root: string;
  readonly bundles: readonly StagedBundle[];
  dispose(): Promise<void>;
}

/**
 * Every bundle the app was given, ready to serve from one folder: build folders (holding
 * model-card.json) are packed there, packed bundle folders (holding channel.json) copied, and a
 * folder of either is expanded. Each live version is verified (hashes, and signatures are left to
 * the browser) before the app may serve it. Throws, naming the path, before anything is written
 * into the app's output.
 */
export async function stageBundles(sources: readonly string[], root: string, builtBy: string): Promise<Staged> {
  const staging = await mkdtemp(join(tmpdir(), 'ondevice-vite-'));
  const dispose = (): Promise<void> => rm(staging, { recursive: true, force: true });
  try {
    const found = (await Promise.all(sources.map((source, i) => classify(resolve(root, source), `bundles[${i}]`)))).flat();
    const bundles: StagedBundle[] = [];
    for (const item of found) {
      const bundle = item.kind === 'build' ? await packInto(staging, item.path, builtBy) : await copyInto(staging, item.path);
      const clash = bundles.find((b) => b.name === bundle.name);
      if (clash !== undefined)
        throw new BundleError(
          'INVALID_MANIFEST',
          `ondevice/vite: ${shownPath(item.path)} and ${shownPath(clash.source)} are both bundle "${bundle.name}"`,
          { name: bundle.name },
        );
      bundles.push(bundle);
    }
    return { root: staging, bundles, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

type Found = { readonly kind: 'build' | 'bundle'; readonly path: string };

/** A build folder, a packed bundle, or a folder holding any number of them. */
async function classify(path: string, option: string): Promise<Found[]> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined)
    throw new BundleError('FETCH_FAILED', `ondevice/vite: ${option} is ${shownPath(path)}, which does not exist`, { path, option });
  if (!info.isDirectory())
    throw new BundleError(
      'FETCH_FAILED',
      `ondevice/vite: ${option} is ${shownPath(path)}, a file; give a build folder or a bundle folder`,
      { path, option },
    );
  if (await isFile(join(path, CHANNEL_FILE))) return [{ kind: 'bundle', path }];
  if (await isFile(join(path, SOURCE_FILES.modelCard))) return [{ kind: 'build', path }];
  const entries = await readdir(path, { withFileTypes: true });
  const bundles: Found[] = [];
  for (const entry of entries)
    if (entry.isDirectory() && (await isFile(join(path, entry.name, CHANNEL_FILE))))
      bundles.push({ kind: 'bundle', path: join(path, entry.name) });
  const builds: Found[] = (await findBuildFolders(path)).map((build) => ({ kind: 'build', path: build }));
  if (bundles.length + builds.length === 0) {
    throw new BundleError(
      'FETCH_FAILED',
      `ondevice/vite: ${option} is ${shownPath(path)}, which holds no model: give a build folder (with ${SOURCE_FILES.modelCard}, as a training script writes it), a packed bundle (with ${CHANNEL_FILE}), or a folder of them`,
      { path, option },
    );
  }
  return [...bundles, ...builds];
}

async function packInto(staging: string, source: string, builtBy: string): Promise<StagedBundle> {
  // The newest source file dates the build: the same files pack to the same manifest, build after build.
  const builtAt = await newestChange(source);
  const result = await pack({
    source,
    out: staging,
    builtBy,
    builtAt,
    approval: { by: builtBy, reason: `packed by ondevice/vite from ${shownPath(source)}` },
  });
  return describe(join(staging, result.manifest.name), source);
}

async function copyInto(staging: string, source: string): Promise<StagedBundle> {
  const channel = await readChannelFile(source);
  if (channel === undefined)
    throw new BundleError('FETCH_FAILED', `ondevice/vite: ${shownPath(source)} has no ${CHANNEL_FILE}`, { path: source });
  const dir = join(staging, channel.name);
  await cp(source, dir, { recursive: true });
  return describe(dir, source);
}

/** Verifies the live version as the browser will (hashes, the manifest the channel pins) and lists its files. */
async function describe(dir: string, source: string): Promise<StagedBundle> {
  const bundle = await readLocalBundle(dir).catch((error: unknown) => {
    if (error instanceof BundleError)
      throw new BundleError(error.code, `ondevice/vite: ${shownPath(source)}: ${error.message}`, { ...error.details, path: source });
    throw error;
  });
  const { manifest, manifestPath } = bundle;
  const versionDir = relative(dir, join(manifestPath, '..'));
  const files = [
    CHANNEL_FILE,
    relative(dir, manifestPath),
    ...presentRoles(manifest.files).map((role) => join(versionDir, manifest.files[role]!.path)),
  ];
  if (await isFile(join(dir, `${CHANNEL_FILE}.sig`))) files.push(`${CHANNEL_FILE}.sig`);
  if (await isFile(`${manifestPath}.sig`)) files.push(`${relative(dir, manifestPath)}.sig`);
  return {
    name: manifest.name,
    liveVersion: manifest.version,
    runtime: manifest.runtime,
    dir,
    liveFiles: files.map((f) => f.split(sep).join('/')),
    source,
  };
}

/** Every file under `dir`, as paths relative to it with `/` separators. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

/** `SOURCE_DATE_EPOCH` when set (reproducible builds), else the newest file's time. */
async function newestChange(dir: string): Promise<string> {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(epoch) && epoch > 0) return new Date(epoch * 1000).toISOString();
  let newest = 0;
  for (const file of await listFiles(dir)) newest = Math.max(newest, (await stat(join(dir, file))).mtimeMs);
  return new Date(Math.floor(newest / 1000) * 1000).toISOString();
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') ? path : rel;
}

export const bundleName = (dir: string): string => basename(dir);
