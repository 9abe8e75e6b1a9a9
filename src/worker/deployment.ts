import {
  compareVersions,
  deleteFiles,
  emptyRecord,
  expectedFromChannel,
  fetchChannel,
  fetchVersion,
  hasCacheStorage,
  isExpired,
  openStored,
  readRecord,
  storeFiles,
  writeRecord,
  type Channel,
  type ChannelRecord,
  type DownloadProgress,
  type ExpectedVersion,
  type StoredVersion,
  type VerifiedVersion,
} from '../bundle/index.js';
import { BundleError, OndeviceError, StateError, describeUnknown } from '../errors/index.js';
import { prepareModel, type GatedModel } from '../model/index.js';
import type { RuntimeOptions } from '../runtimes/index.js';
import type { Scorer } from '../scoring/index.js';
import type { DeploymentEvent, ModelInfo, UpdateResult, WorkerLoadOptions } from './protocol.js';

/** A version serving calls; retired once replaced, released once its last in-flight call is done. */
interface Lease {
  readonly scorer: Scorer;
  readonly info: ModelInfo;
  inFlight: number;
  retired: boolean;
}

const DEFAULT_KEEP_VERSIONS = 2;

/**
 * Which version serves, and how a new one replaces it: last known good first (offline if need be),
 * updates downloaded, verified, stored and gated in the background, then swapped in for new calls
 * while calls in flight finish on the old one. Nothing older than what was accepted is taken,
 * unless the channel is an explicit rollback signed by a pinned key.
 */
export class Deployment {
  readonly #channelUrl: string;
  readonly #options: WorkerLoadOptions;
  readonly #emit: (event: DeploymentEvent) => void;
  readonly #onProgress: ((progress: DownloadProgress) => void) | undefined;
  #record: ChannelRecord;
  #lease: Lease | undefined;
  #updating: Promise<UpdateResult> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stale = false;

  constructor(channelUrl: string, options: WorkerLoadOptions, emit: (event: DeploymentEvent) => void, onProgress?: (progress: DownloadProgress) => void) {
    this.#channelUrl = channelUrl;
    this.#options = options;
    this.#emit = emit;
    this.#onProgress = onProgress;
    this.#record = emptyRecord(channelUrl);
  }

  /** Serves the last known good version if one is installed, else installs the live one; throws if neither can serve. */
  async start(): Promise<void> {
    this.#record = (await readRecord(this.#channelUrl)) ?? emptyRecord(this.#channelUrl);
    const started = performance.now();
    for (const entry of this.#goodVersions()) {
      const opened = await this.#openOrHeal(entry);
      if (opened === undefined) continue;
      const model = await this.#prepare(opened.version, started, opened.source).catch(() => undefined);
      if (model === undefined) continue;
      this.#activate(model.lease);
      await this.#markActive(opened.version, undefined);
      if (this.#options.checkForUpdates !== false) void this.update();
      this.#schedule();
      return;
    }

    const { channel, signedBy } = await fetchChannel(this.#channelUrl, this.#trust());
    this.#checkChannel(channel, signedBy);
    const version = await fetchVersion(expectedFromChannel(this.#channelUrl, channel), this.#trust(), this.#onProgress);
    const storageError = await this.#store(version);
    const { lease } = await this.#prepare(version, started, 'network', storageError).catch(async (error: unknown) => {
      await this.#reject(expectedOf(version), error);
      throw error;
    });
    this.#activate(lease);
    await this.#markActive(version, channel);
    this.#schedule();
  }

  /** Checks the channel now; resolves with what happened (it does not throw: the current version keeps serving). */
  update(): Promise<UpdateResult> {
    this.#updating ??= this.#update().finally(() => (this.#updating = undefined));
    return this.#updating;
  }

  /** The current version for one call; `release` when the call is done. */
  acquire(): { scorer: Scorer; release: () => void } {
    const lease = this.#lease;
    if (lease === undefined) throw new StateError('NOT_READY', 'no model is serving');
    lease.inFlight++;
    return {
      scorer: lease.scorer,
      release: () => {
        lease.inFlight--;
        if (lease.retired && lease.inFlight === 0) void lease.scorer.runtime.dispose();
      },
    };
  }

  info(): ModelInfo {
    const lease = this.#lease;
    if (lease === undefined) throw new StateError('NOT_READY', 'no model is serving');
    return {
      ...lease.info,
      channel: { sequence: this.#record.sequence, stale: this.#stale },
      installed: this.#record.versions.map(({ version, status, stored, reason }) => ({ version, status, stored, ...(reason === undefined ? {} : { reason }) })),
    };
  }

  async dispose(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    const lease = this.#lease;
    this.#lease = undefined;
    if (lease !== undefined) {
      lease.retired = true;
      if (lease.inFlight === 0) await lease.scorer.runtime.dispose();
    }
  }

  async #update(): Promise<UpdateResult> {
    let channel: Channel;
    let signedBy: string | undefined;
    try {
      ({ channel, signedBy } = await fetchChannel(this.#channelUrl, this.#trust()));
    } catch (error) {
      return this.#failed(undefined, error);
    }
    const live = channel.live;
    try {
      this.#checkChannel(channel, signedBy);
    } catch (error) {
      return this.#failed(live.version, error);
    }
    if (live.sha256 === this.#record.active) {
      await this.#save({ ...this.#record, sequence: Math.max(this.#record.sequence, channel.sequence) });
      return { status: 'up-to-date', version: live.version, stale: this.#stale };
    }
    const known = this.#record.versions.find((v) => v.manifestSha256 === live.sha256);
    if (known?.status === 'rejected') {
      // Refused once, refused again: not downloaded and gated on every check.
      return { status: 'rejected', version: live.version, reason: known.reason ?? 'rejected earlier', stale: this.#stale };
    }

    this.#emit({ type: 'update-available', version: live.version });
    const started = performance.now();
    let version: VerifiedVersion;
    try {
      version = known?.stored ? await openStored(known).catch(() => this.#download(channel)) : await this.#download(channel);
    } catch (error) {
      return this.#failed(live.version, error);
    }
    const storageError = await this.#store(version);
    this.#emit({ type: 'installed', version: live.version });
    let prepared: { lease: Lease };
    try {
      prepared = await this.#prepare(version, started, 'network', storageError);
    } catch (error) {
      await this.#reject(expectedOf(version), error);
      return { status: 'rejected', version: live.version, reason: describeUnknown(error), code: codeOf(error), stale: this.#stale };
    }
    const previous = this.#lease?.info.version;
    this.#activate(prepared.lease);
    await this.#markActive(version, channel);
    this.#emit({ type: 'activated', version: live.version, ...(previous === undefined ? {} : { previous }) });
    await this.#evict();
    return { status: 'activated', version: live.version, stale: this.#stale };
  }

  /** Refuses a replayed channel and an older version that is not a signed, explicit rollback; notes expiry. */
  #checkChannel(channel: Channel, signedBy: string | undefined): void {
    if (this.#lease !== undefined && channel.name !== this.#lease.info.name) {
      throw new BundleError('INVALID_CHANNEL', `${this.#channelUrl} now names bundle "${channel.name}", not "${this.#lease.info.name}"`, { url: this.#channelUrl });
    }
    if (channel.sequence < this.#record.sequence) {
      throw new BundleError(
        'CHANNEL_REPLAYED',
        `${this.#channelUrl} has sequence ${channel.sequence}, older than ${this.#record.sequence} already seen: a replayed or frozen channel`,
        { url: this.#channelUrl, sequence: channel.sequence, seen: this.#record.sequence },
      );
    }
    const floor = this.#record.floorVersion;
    if (floor !== undefined && compareVersions(channel.live.version, floor) < 0) {
      if (channel.rollback === undefined) {
        throw new BundleError('ROLLBACK_REFUSED', `${this.#channelUrl} names ${channel.live.version}, older than ${floor}, and is not a rollback`, {
          version: channel.live.version,
          floor,
        });
      }
      if (signedBy === undefined) {
        throw new BundleError('ROLLBACK_REFUSED', `a rollback to ${channel.live.version} must be signed by a pinned key; this app pins none or the channel is unsigned`, {
          version: channel.live.version,
          floor,
        });
      }
    }
    const stale = isExpired(channel, Date.now());
    if (stale && !this.#stale) this.#emit({ type: 'stale', expires: channel.expires! });
    this.#stale = stale;
  }

  #download(channel: Channel): Promise<VerifiedVersion> {
    return fetchVersion(expectedFromChannel(this.#channelUrl, channel), this.#trust(), this.#onProgress);
  }

  /** A stored version, or the same version fetched again when its stored files are missing or damaged. */
  async #openOrHeal(entry: StoredVersion): Promise<{ version: VerifiedVersion; source: 'cache' | 'network' } | undefined> {
    try {
      return { version: await openStored(entry), source: 'cache' };
    } catch {
      await deleteFiles(entry.manifestSha256);
      try {
        const version = await fetchVersion(entry, this.#trust(), this.#onProgress);
        await this.#store(version);
        return { version, source: 'network' };
      } catch {
        await this.#save({ ...this.#record, versions: this.#record.versions.map((v) => (v === entry ? { ...v, stored: false } : v)) });
        return undefined;
      }
    }
  }

  async #prepare(version: VerifiedVersion, started: number, source: 'cache' | 'network', storageError?: string): Promise<{ lease: Lease; model: GatedModel }> {
    const bundleReady = performance.now();
    const { threads, backends } = this.#options;
    const runtimeOptions: RuntimeOptions = { ...(threads === undefined ? {} : { threads }), ...(backends === undefined ? {} : { backends }) };
    const model = await prepareModel(version.manifest, version.files, runtimeOptions);
    const { manifest } = version;
    const { runtime, transform } = model.scorer;
    const info: ModelInfo = {
      name: manifest.name,
      version: manifest.version,
      versions: manifest.versions,
      contentHash: manifest.contentHash,
      manifestSha256: version.manifestSha256,
      task: manifest.task,
      inputs: transform.inputs,
      featureNames: transform.names,
      runtime: { name: runtime.name, backend: runtime.backend, threads: runtime.threads, fallbacks: runtime.fallbacks },
      source,
      storage: storageError === undefined ? 'cache' : 'memory',
      ...(storageError === undefined ? {} : { storageError }),
      ...(this.#options.persisted === undefined ? {} : { persisted: this.#options.persisted }),
      bundleBytes: version.totalBytes,
      gate: model.gate,
      timings: { bundleMs: bundleReady - started, ...model.timings, totalMs: performance.now() - started },
      metadata: manifest.metadata,
      channel: { sequence: this.#record.sequence, stale: this.#stale },
      installed: [],
    };
    return { lease: { scorer: model.scorer, info, inFlight: 0, retired: false }, model };
  }

  /** New calls go to the new version at once; the old one is released when its last call returns. */
  #activate(lease: Lease): void {
    const old = this.#lease;
    this.#lease = lease;
    if (old !== undefined) {
      old.retired = true;
      if (old.inFlight === 0) void old.scorer.runtime.dispose();
    }
  }

  /** Stores a verified version; on failure (quota) it serves from memory and says why. */
  async #store(version: VerifiedVersion): Promise<string | undefined> {
    if (!hasCacheStorage()) return 'Cache Storage is not available here';
    try {
      await storeFiles(version.manifestSha256, version.byUrl, `${version.manifest.name} ${version.manifest.version}`);
    } catch (error) {
      return describeUnknown(error);
    }
    await this.#upsert({
      name: version.manifest.name,
      version: version.manifest.version,
      manifestUrl: version.manifestUrl,
      manifestSha256: version.manifestSha256,
      status: this.#record.versions.find((v) => v.manifestSha256 === version.manifestSha256)?.status ?? 'installed',
      installedAt: new Date().toISOString(),
      stored: true,
    });
    return undefined;
  }

  async #markActive(version: VerifiedVersion, channel: Channel | undefined): Promise<void> {
    const v = version.manifest.version;
    const floor = this.#record.floorVersion;
    const rolledBack = channel?.rollback !== undefined;
    const entry = this.#record.versions.find((e) => e.manifestSha256 === version.manifestSha256);
    await this.#save({
      ...this.#record,
      active: version.manifestSha256,
      sequence: Math.max(this.#record.sequence, channel?.sequence ?? 0),
      floorVersion: rolledBack || floor === undefined || compareVersions(v, floor) > 0 ? v : floor,
      versions:
        entry === undefined
          ? this.#record.versions
          : this.#record.versions.map((e) => (e === entry ? { ...e, status: 'good' as const } : e)),
    });
  }

  async #reject(expected: ExpectedVersion, error: unknown): Promise<void> {
    const { name, version, manifestSha256, manifestUrl } = expected;
    await deleteFiles(manifestSha256);
    const existing = this.#record.versions.find((v) => v.manifestSha256 === manifestSha256);
    const rejected: StoredVersion = {
      name,
      version,
      manifestUrl,
      manifestSha256,
      status: 'rejected',
      reason: describeUnknown(error),
      installedAt: existing?.installedAt ?? new Date().toISOString(),
      stored: false,
    };
    await this.#upsert(rejected);
    this.#emit({ type: 'rejected', version, reason: describeUnknown(error), code: codeOf(error) });
  }

  #failed(version: string | undefined, error: unknown): UpdateResult {
    // A channel that could not be fetched (offline, say) rejects nothing: only the result says so.
    if (version !== undefined) this.#emit({ type: 'rejected', version, reason: describeUnknown(error), code: codeOf(error) });
    return { status: 'failed', ...(version === undefined ? {} : { version }), reason: describeUnknown(error), code: codeOf(error), stale: this.#stale };
  }

  /** Keeps the active version and the newest other good ones, up to `keepVersions`; drops the rest's files. */
  async #evict(): Promise<void> {
    const keep = Math.max(1, this.#options.keepVersions ?? DEFAULT_KEEP_VERSIONS);
    const kept = new Set(this.#goodVersions().slice(0, keep).map((v) => v.manifestSha256));
    const evicted = this.#record.versions.filter((v) => v.stored && !kept.has(v.manifestSha256));
    for (const v of evicted) await deleteFiles(v.manifestSha256);
    if (evicted.length > 0) {
      await this.#save({ ...this.#record, versions: this.#record.versions.map((v) => (evicted.includes(v) ? { ...v, stored: false } : v)) });
    }
  }

  /** Stored good versions: the active one first, then newest first. */
  #goodVersions(): StoredVersion[] {
    return this.#record.versions
      .filter((v) => v.stored && v.status !== 'rejected')
      .sort((a, b) => Number(b.manifestSha256 === this.#record.active) - Number(a.manifestSha256 === this.#record.active) || compareVersions(b.version, a.version));
  }

  async #upsert(entry: StoredVersion): Promise<void> {
    const others = this.#record.versions.filter((v) => v.manifestSha256 !== entry.manifestSha256);
    await this.#save({ ...this.#record, versions: [...others, entry] });
  }

  async #save(record: ChannelRecord): Promise<void> {
    this.#record = record;
    await writeRecord(record).catch(() => undefined);
  }

  #trust(): { publicKeys?: readonly string[] } {
    return this.#options.publicKeys === undefined ? {} : { publicKeys: this.#options.publicKeys };
  }

  #schedule(): void {
    const every = this.#options.updateIntervalMs;
    if (every !== undefined && every > 0 && this.#timer === undefined) this.#timer = setInterval(() => void this.update(), every);
  }
}

function expectedOf(version: VerifiedVersion): ExpectedVersion {
  return { name: version.manifest.name, version: version.manifest.version, manifestSha256: version.manifestSha256, manifestUrl: version.manifestUrl };
}

function codeOf(error: unknown): string {
  return error instanceof OndeviceError ? error.code : 'UNKNOWN';
}
