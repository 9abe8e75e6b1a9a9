import {
  DEFAULT_METADATA_CAPS,
  DEFAULT_NETWORK_LIMITS,
  boundedFetcher,
  compareVersions,
  decodeBase64Url,
  defaultIo,
  emptyRecord,
  expectedFromChannel,
  fetchChannel,
  fetchVersion,
  isExpired,
  openStored,
  type BundleIo,
  type Channel,
  type ChannelRecord,
  type ExpectedVersion,
  type Manifest,
  type MetadataCaps,
  type NetworkLimits,
  type StoredVersion,
  type VerifiedVersion,
} from '../bundle/index.js';
import { BundleError, GateError, InputError, OndeviceError, StateError, describeUnknown } from '../errors/index.js';
import { prepareModel, type GatedModel } from '../model/index.js';
import { hasWebWorkers } from '../util/environment.js';
import { warmRuntime, type RuntimeOptions } from '../runtimes/index.js';
import type { Scorer, StartShard } from '../scoring/index.js';
import type { ConfidenceSet } from '../gate/index.js';
import type { Reference } from '../monitor/index.js';
import {
  BanditStrategy,
  CanaryStrategy,
  RolloutStrategy,
  ShadowStrategy,
  SingleStrategy,
  createStrategy,
  seededRandom,
  type ArmCounts,
  type RolloutPolicy,
  type Route,
} from '../rollout/index.js';
import {
  DEFAULT_KEEP_VERSIONS,
  type DeploymentEvent,
  type LoadProgress,
  type ModelInfo,
  type PinnedVersion,
  type RolloutInfo,
  type UpdateResult,
  type WorkerLoadOptions,
} from './protocol.js';

/** A version serving calls; retired once replaced, released once its last in-flight call is done. */
interface Lease {
  readonly scorer: Scorer;
  /** What explanations and drift monitoring need of the version. */
  readonly confidence: ConfidenceSet;
  readonly reference: Reference | undefined;
  readonly info: ModelInfo;
  inFlight: number;
  retired: boolean;
  /** Its runtime has been released (once, whoever gets there first). */
  released: boolean;
}

/** A version held for one call; `release` when the call is done. */
export interface AcquiredVersion {
  readonly scorer: Scorer;
  readonly version: string;
  readonly confidence: ConfidenceSet;
  readonly reference: Reference | undefined;
  readonly release: () => void;
}

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
  readonly #onProgress: ((progress: LoadProgress) => void) | undefined;
  #record: ChannelRecord;
  #lease: Lease | undefined;
  #updating: Promise<UpdateResult> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stale = false;
  /** Candidate versions ready to serve beside the live one, by version. */
  #candidates = new Map<string, Lease>();
  #strategy: RolloutStrategy = new SingleStrategy('');
  #policy: RolloutPolicy = { strategy: 'single' };
  /** Why the channel's rollout is not in force, when a version it needs could not be made ready. */
  #rolloutNote: string | undefined;
  #banditCounts: ArmCounts = {};
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #random: () => number;
  readonly #io: BundleIo;
  /** The most the channel and a manifest may hold. */
  readonly #caps: MetadataCaps;
  /** Set by `dispose()`: from then on nothing activates, stores, emits or keeps a timer. */
  #disposed = false;
  /** Aborts every request in flight when the deployment is disposed. */
  readonly #abort = new AbortController();

  constructor(
    channelUrl: string,
    options: WorkerLoadOptions,
    emit: (event: DeploymentEvent) => void,
    onProgress?: (progress: LoadProgress) => void,
    io: BundleIo = defaultIo(),
  ) {
    // Every request this deployment makes ends when it is disposed, and within the network limits.
    const limits = networkSettings(options.network);
    checkPublicKeys(options.publicKeys);
    this.#caps = limits;
    // The deployment's signal goes in as the caller's: the bounded fetcher links it to its own, which must reach the fetch.
    const bounded = boundedFetcher(io.fetch, limits);
    this.#io = { ...io, fetch: (url, init) => bounded(url, { ...init, signal: this.#abort.signal }) };
    this.#channelUrl = channelUrl;
    this.#options = options;
    // Nothing is told after dispose.
    this.#emit = (event) => void (this.#disposed || emit(event));
    this.#onProgress = onProgress;
    this.#record = emptyRecord(channelUrl);
    this.#random = seededRandom(options.rolloutSeed ?? crypto.getRandomValues(new Uint32Array(1))[0]!);
  }

  /** Serves the last known good version if one is installed, else installs the live one; throws if neither can serve. */
  async start(): Promise<void> {
    try {
      await (this.#options.pinned === undefined ? this.#startFromRecordOrChannel() : this.#startPinned(this.#options.pinned));
      const { version, source } = this.#lease!.info;
      this.#onProgress?.({ phase: 'ready', version, source });
    } catch (error) {
      // Whatever a start disposed midway met (an aborted request, say), it ended because of dispose().
      this.#alive();
      throw error;
    }
  }

  async #startFromRecordOrChannel(): Promise<void> {
    this.#record = (await this.#io.store.readRecord(this.#channelUrl).catch(() => undefined)) ?? emptyRecord(this.#channelUrl);
    const started = performance.now();
    for (const entry of this.#goodVersions()) {
      const opened = await this.#openOrHeal(entry);
      if (opened === undefined) continue;
      const model = await this.#prepare(opened.version, started, opened.source).catch(async (error: unknown) => {
        // A stored version that can never serve (its files or gate refuse it) is dropped, not tried on every start.
        if (error instanceof BundleError || error instanceof GateError) await this.#reject(entry, error);
        return undefined;
      });
      if (model === undefined) continue;
      this.#activate(model.lease);
      await this.#markActive(opened.version, undefined);
      await this.#restoreRollout();
      if (this.#options.checkForUpdates !== false) void this.update();
      this.#schedule();
      return;
    }

    const { channel, signedBy } = await fetchChannel(this.#io.fetch, this.#channelUrl, this.#trust(), this.#caps);
    this.#checkChannel(channel, signedBy);
    const version = await this.#download(channel);
    const storageError = await this.#store(version);
    const { lease } = await this.#prepare(version, started, 'network', storageError).catch(async (error: unknown) => {
      await this.#reject(expectedOf(version), error);
      throw error;
    });
    this.#activate(lease);
    await this.#markActive(version, channel);
    await this.#applyRollout(channel);
    this.#schedule();
  }

  /** Serves the one version the app pinned, downloaded and verified against its pin: no channel, no updates, no rollout. */
  async #startPinned(pinned: PinnedVersion): Promise<void> {
    const started = performance.now();
    const version = await this.#fetchVersion({ ...pinned, manifestSha256: pinned.sha256 });
    const { lease } = await this.#prepare(version, started, 'network', await this.#store(version));
    this.#activate(lease);
  }

  /** Checks the channel now; resolves with what happened (it does not throw: the current version keeps serving). */
  update(): Promise<UpdateResult> {
    if (this.#disposed) return Promise.resolve(disposedResult(this.#stale));
    if (this.#options.pinned !== undefined)
      return Promise.resolve({ status: 'up-to-date', version: this.#options.pinned.version, stale: false });
    this.#updating ??= this.#update()
      .then((result) => (this.#disposed ? disposedResult(this.#stale) : result))
      .catch((error: unknown) => {
        // Only disposal interrupts a check; anything else is reported by #update itself.
        if (this.#disposed) return disposedResult(this.#stale);
        throw error;
      })
      .finally(() => (this.#updating = undefined));
    return this.#updating;
  }

  /** Which version answers the next call, and which scores it in the shadow (the rollout's choice). */
  route(): Route {
    const route = this.#strategy.route();
    const known = (version: string | undefined): boolean =>
      version !== undefined && (version === this.#lease?.info.version || this.#candidates.has(version));
    const version = known(route.version) ? route.version : this.#lease!.info.version;
    return route.shadow !== undefined && known(route.shadow) ? { version, shadow: route.shadow } : { version };
  }

  /** Whether every call is routed alike (single, canary: a user's version is fixed), so one decision may serve many calls. */
  routesAlike(): boolean {
    return this.#strategy.name === 'single' || this.#strategy.name === 'canary';
  }

  /** A reward the app reported for a prediction `version` made; bandit counts are saved soon after. */
  report(version: string, reward: number): void {
    this.#strategy.report(version, reward);
    if (this.#strategy instanceof BanditStrategy) {
      this.#banditCounts = this.#strategy.counts();
      this.#saveSoon();
    }
  }

  /** The version for one call (the live one unless a candidate is named); `release` when the call is done. */
  acquire(version?: string): AcquiredVersion {
    const lease = (version === undefined ? undefined : this.#candidates.get(version)) ?? this.#lease;
    if (lease === undefined) throw new StateError('NOT_READY', 'no model is serving');
    lease.inFlight++;
    return {
      scorer: lease.scorer,
      version: lease.info.version,
      confidence: lease.confidence,
      reference: lease.reference,
      release: () => {
        lease.inFlight--;
        if (lease.retired && lease.inFlight === 0) release(lease);
      },
    };
  }

  info(): ModelInfo {
    const lease = this.#lease;
    if (lease === undefined) throw new StateError('NOT_READY', 'no model is serving');
    return {
      ...lease.info,
      channel: { sequence: this.#record.sequence, stale: this.#stale },
      rollout: this.#rolloutInfo(),
      installed: this.#record.versions.map(({ version, status, stored, reason }) => ({
        version,
        status,
        stored,
        ...(reason === undefined ? {} : { reason }),
      })),
    };
  }

  /**
   * Ends the deployment: requests in flight are aborted, the update check in flight is waited for
   * (it stops at its next step), timers are cleared, and every version's runtime is released once
   * its calls are done. Nothing activates, stores or emits afterwards.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#abort.abort(new StateError('DISPOSED', 'the model was disposed'));
    clearInterval(this.#timer);
    clearTimeout(this.#saveTimer);
    await this.#updating?.catch(() => undefined);
    for (const lease of this.#candidates.values()) this.#retire(lease);
    this.#candidates.clear();
    const lease = this.#lease;
    this.#lease = undefined;
    if (lease !== undefined) this.#retire(lease);
  }

  /** A version's manifest is read: its runtime starts loading while its files are downloaded or read back. */
  readonly #warm = (manifest: Manifest): void => warmRuntime(manifest.runtime, manifest.files.model.size, this.#runtimeOptions());

  /** Bytes received, as the app's progress (`download`). */
  readonly #downloadProgress = (progress: { loadedBytes: number; totalBytes: number; file: string }): void =>
    this.#onProgress?.({ phase: 'download', ...progress });
  /** Stored bytes read back and hashed, as the app's progress (`verify`). */
  readonly #verifyProgress = (progress: { loadedBytes: number; totalBytes: number; file: string }): void =>
    this.#onProgress?.({ phase: 'verify', ...progress });

  /** Throws once disposed: a step of a start or an update that comes after `dispose()` goes no further. */
  #alive(): void {
    if (this.#disposed) throw new StateError('DISPOSED', 'the model was disposed');
  }

  async #update(): Promise<UpdateResult> {
    let channel: Channel;
    let signedBy: string | undefined;
    try {
      ({ channel, signedBy } = await fetchChannel(this.#io.fetch, this.#channelUrl, this.#trust(), this.#caps));
    } catch (error) {
      return this.#failed(undefined, error);
    }
    try {
      this.#checkChannel(channel, signedBy);
    } catch (error) {
      return this.#failed(channel.live.version, error);
    }
    const result = await this.#updateLive(channel);
    // The rollout follows the channel whatever became of its live version (a pulled candidate stops now).
    await this.#applyRollout(channel);
    return { ...result, strategy: this.#strategy.name };
  }

  async #updateLive(channel: Channel): Promise<Omit<UpdateResult, 'strategy'>> {
    const live = channel.live;
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
      version = known?.stored
        ? await openStored(this.#io.store, known, this.#verifyProgress).catch(() => this.#download(channel))
        : await this.#download(channel);
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

  /**
   * Makes the versions the channel's rollout needs ready (stored, verified, gated) and puts the
   * rollout in force; what it no longer names is released. A version that cannot be made ready
   * leaves the live version serving everyone, and says why.
   */
  async #applyRollout(channel: Channel): Promise<void> {
    this.#alive();
    const live = this.#lease!.info.version;
    const policy = channel.rollout;
    const entries = new Map(channel.candidates.map((c) => [c.version, expectedFromChannel(this.#channelUrl, { ...channel, live: c })]));
    let note: string | undefined;
    const ready = new Map<string, Lease>();
    for (const version of await this.#neededVersions(policy, live, channel.name)) {
      const expected = entries.get(version);
      const lease =
        expected === undefined
          ? undefined
          : await this.#candidateLease(expected).catch((error: unknown) => ((note = describeUnknown(error)), undefined));
      if (lease === undefined) {
        note ??= `${version} is not offered by the channel`;
        break;
      }
      ready.set(version, lease);
    }
    const inForce: RolloutPolicy = note === undefined ? policy : { strategy: 'single' };
    this.#useRollout(inForce, ready, channel.name, note);
    await this.#save({ ...this.#record, rollout: { policy, candidates: [...entries.values()].filter((e) => ready.has(e.version)) } });
  }

  /** At start, the rollout last in force, from stored versions only: offline works, the next check refreshes it. */
  async #restoreRollout(): Promise<void> {
    const saved = this.#record.rollout;
    if (saved === undefined || this.#lease === undefined) return;
    const ready = new Map<string, Lease>();
    let note: string | undefined;
    for (const version of await this.#neededVersions(saved.policy, this.#lease.info.version, this.#lease.info.name)) {
      const entry = this.#record.versions.find((v) => v.version === version && v.stored && v.status !== 'rejected');
      const opened = entry === undefined ? undefined : await openStored(this.#io.store, entry, this.#verifyProgress).catch(() => undefined);
      const prepared = opened === undefined ? undefined : await this.#prepare(opened, performance.now(), 'cache').catch(() => undefined);
      if (prepared === undefined) {
        note = `${version} is not stored on this device yet`;
        break;
      }
      ready.set(version, prepared.lease);
    }
    this.#useRollout(note === undefined ? saved.policy : { strategy: 'single' }, ready, this.#lease.info.name, note);
  }

  /** The versions besides the live one this device needs: a canary only its own assignment. */
  async #neededVersions(policy: RolloutPolicy, live: string, bundle: string): Promise<string[]> {
    if (policy.strategy === 'single') return [];
    if (policy.strategy === 'canary') {
      const canary = new CanaryStrategy(live, policy.candidate, policy.share, await this.#userId(), bundle);
      return canary.assigned === live ? [] : [canary.assigned];
    }
    const versions = policy.strategy === 'shadow' ? [policy.candidate] : policy.arms;
    return versions.filter((v) => v !== live);
  }

  async #candidateLease(expected: ExpectedVersion): Promise<Lease> {
    const current = this.#candidates.get(expected.version);
    if (current !== undefined && current.info.manifestSha256 === expected.manifestSha256) return current;
    const known = this.#record.versions.find((v) => v.manifestSha256 === expected.manifestSha256);
    if (known?.status === 'rejected')
      throw new BundleError('INVALID_MANIFEST', `${expected.version} was rejected earlier: ${known.reason ?? ''}`, {
        version: expected.version,
      });
    const started = performance.now();
    const version = known?.stored
      ? await openStored(this.#io.store, known, this.#verifyProgress).catch(() => this.#fetchVersion(expected, false))
      : await this.#fetchVersion(expected, false);
    const storageError = await this.#store(version);
    try {
      return (await this.#prepare(version, started, 'network', storageError)).lease;
    } catch (error) {
      await this.#reject(expectedOf(version), error);
      throw error;
    }
  }

  #useRollout(policy: RolloutPolicy, ready: Map<string, Lease>, bundle: string, note: string | undefined): void {
    if (this.#disposed) {
      for (const lease of ready.values()) this.#retire(lease);
      this.#alive();
    }
    const live = this.#lease!.info.version;
    for (const [version, lease] of this.#candidates) if (ready.get(version) !== lease) this.#retire(lease);
    this.#candidates = ready;
    const before = JSON.stringify({ strategy: this.#strategy.name, assigned: this.#assignment() });
    this.#policy = policy;
    this.#rolloutNote = note;
    this.#strategy = createStrategy(policy, {
      live,
      userId: this.#userIdValue ?? '',
      bundle,
      random: this.#random,
      counts: this.#record.bandit ?? {},
    });
    if (this.#strategy instanceof BanditStrategy) this.#banditCounts = this.#strategy.counts();
    const after = { strategy: this.#strategy.name, assigned: this.#assignment() };
    if (JSON.stringify(after) !== before) {
      this.#emit({
        type: 'rollout',
        strategy: after.strategy,
        ...(after.assigned === undefined ? {} : { version: after.assigned }),
        ...(note === undefined ? {} : { reason: note }),
      });
    }
  }

  #assignment(): string | undefined {
    const strategy = this.#strategy;
    if (strategy instanceof CanaryStrategy) return strategy.assigned;
    return strategy instanceof BanditStrategy ? undefined : this.#lease?.info.version;
  }

  #rolloutInfo(): RolloutInfo {
    const strategy = this.#strategy;
    const base = { strategy: strategy.name, policy: this.#policy, ...(this.#rolloutNote === undefined ? {} : { note: this.#rolloutNote }) };
    if (strategy instanceof CanaryStrategy)
      return { ...base, candidate: strategy.candidate, share: strategy.share, bucket: strategy.bucket, assigned: strategy.assigned };
    if (strategy instanceof ShadowStrategy) return { ...base, candidate: strategy.candidate };
    if (strategy instanceof BanditStrategy) return { ...base, arms: this.#banditCounts };
    return base;
  }

  #userIdValue: string | undefined;

  /** The app's user id, else an id this device keeps for itself (so a canary stays put across reloads). */
  async #userId(): Promise<string> {
    this.#userIdValue ??= this.#options.userId ?? (await this.#io.store.deviceId().catch(() => crypto.randomUUID()));
    return this.#userIdValue;
  }

  /** No new calls go to it; its runtime is released when its last call is done. */
  #retire(lease: Lease): void {
    lease.retired = true;
    if (lease.inFlight === 0) release(lease);
  }

  #saveSoon(): void {
    // A bandit hears many rewards a second: its counts are written at most once a second.
    this.#saveTimer ??= setTimeout(() => {
      this.#saveTimer = undefined;
      void this.#save({ ...this.#record, bandit: this.#banditCounts });
    }, 1000);
  }

  /** Refuses a replayed channel and an older version that is not a signed, explicit rollback; notes expiry. */
  #checkChannel(channel: Channel, signedBy: string | undefined): void {
    if (this.#lease !== undefined && channel.name !== this.#lease.info.name) {
      throw new BundleError('INVALID_CHANNEL', `${this.#channelUrl} now names bundle "${channel.name}", not "${this.#lease.info.name}"`, {
        url: this.#channelUrl,
      });
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
        throw new BundleError(
          'ROLLBACK_REFUSED',
          `${this.#channelUrl} names ${channel.live.version}, older than ${floor}, and is not a rollback`,
          {
            version: channel.live.version,
            floor,
          },
        );
      }
      if (signedBy === undefined) {
        throw new BundleError(
          'ROLLBACK_REFUSED',
          `a rollback to ${channel.live.version} must be signed by a pinned key; this app pins none or the channel is unsigned`,
          {
            version: channel.live.version,
            floor,
          },
        );
      }
    }
    const stale = isExpired(channel, Date.now());
    if (stale && !this.#stale) this.#emit({ type: 'stale', expires: channel.expires! });
    this.#stale = stale;
  }

  /** A version downloaded and verified, with its progress told (not for a candidate: `told` false) and its runtime warmed. */
  #fetchVersion(expected: ExpectedVersion, told = true): Promise<VerifiedVersion> {
    return told
      ? fetchVersion(this.#io.fetch, expected, this.#trust(), this.#downloadProgress, this.#warm, this.#caps)
      : fetchVersion(this.#io.fetch, expected, this.#trust(), undefined, undefined, this.#caps);
  }

  #download(channel: Channel): Promise<VerifiedVersion> {
    return this.#fetchVersion(expectedFromChannel(this.#channelUrl, channel));
  }

  /** A stored version, or the same version fetched again when its stored files are missing or damaged. */
  async #openOrHeal(entry: StoredVersion): Promise<{ version: VerifiedVersion; source: 'cache' | 'network' } | undefined> {
    try {
      return { version: await openStored(this.#io.store, entry, this.#verifyProgress, this.#warm), source: 'cache' };
    } catch {
      await this.#io.store.deleteFiles(entry.manifestSha256).catch(() => undefined);
      try {
        const version = await this.#fetchVersion(entry);
        await this.#store(version);
        return { version, source: 'network' };
      } catch {
        await this.#save({ ...this.#record, versions: this.#record.versions.map((v) => (v === entry ? { ...v, stored: false } : v)) });
        return undefined;
      }
    }
  }

  #runtimeOptions(): RuntimeOptions {
    const { threads, shards, backends, variant } = this.#options;
    return {
      ...(threads === undefined ? {} : { threads }),
      ...(shards === undefined ? {} : { shards }),
      ...(backends === undefined ? {} : { backends }),
      ...(variant === undefined ? {} : { variant }),
    };
  }

  async #prepare(
    version: VerifiedVersion,
    started: number,
    source: 'cache' | 'network',
    storageError?: string,
  ): Promise<{ lease: Lease; model: GatedModel }> {
    const bundleReady = performance.now();
    const runtimeOptions = this.#runtimeOptions();
    // The shards' worker code is imported only when a pool starts one; Node has no workers for them.
    const startShard: StartShard | undefined = hasWebWorkers()
      ? async (init) => (await import('./shard-start.js')).startShardWorker(init)
      : undefined;
    const model = await prepareModel(version.manifest, version.files, runtimeOptions, startShard, (phase) =>
      this.#onProgress?.(phase === 'runtime' ? { phase, runtime: version.manifest.runtime } : { phase }),
    );
    if (this.#disposed) {
      // Made ready too late: released, never served.
      await model.scorer.runtime.dispose();
      this.#alive();
    }
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
      runtime: {
        name: runtime.name,
        backend: runtime.backend,
        threads: runtime.threads,
        ...(runtime.threadsLimitedBy === undefined ? {} : { threadsLimitedBy: runtime.threadsLimitedBy }),
        ...(runtime.backendReason === undefined ? {} : { backendReason: runtime.backendReason }),
        fallbacks: runtime.fallbacks,
        variant: model.variant ?? null,
        variantsPassedOver: model.variantsPassedOver,
      },
      source,
      storage: storageError === undefined ? this.#io.store.kind : 'memory',
      ...(storageError === undefined ? {} : { storageError }),
      ...(this.#options.persisted === undefined ? {} : { persisted: this.#options.persisted }),
      bundleBytes: version.totalBytes,
      gate: model.gate,
      timings: { bundleMs: bundleReady - started, ...model.timings, totalMs: performance.now() - started },
      metadata: manifest.metadata,
      channel: { sequence: this.#record.sequence, stale: this.#stale },
      rollout: { strategy: 'single', policy: { strategy: 'single' } },
      installed: [],
    };
    await checkSendable(info, model);
    return {
      lease: {
        scorer: model.scorer,
        confidence: model.confidence,
        reference: model.reference,
        info,
        inFlight: 0,
        retired: false,
        released: false,
      },
      model,
    };
  }

  /** New calls go to the new version at once; the old one is released when its last call returns. */
  #activate(lease: Lease): void {
    if (this.#disposed) {
      this.#retire(lease);
      this.#alive();
    }
    const old = this.#lease;
    this.#lease = lease;
    if (old !== undefined) this.#retire(old);
  }

  /** Stores a verified version; on failure (quota) it serves from memory and says why. */
  async #store(version: VerifiedVersion): Promise<string | undefined> {
    this.#alive();
    try {
      await this.#io.store.storeFiles(version.manifestSha256, version.byUrl, `${version.manifest.name} ${version.manifest.version}`);
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
    // A version is not held against itself because the app went away while it was checked.
    if (this.#disposed) return;
    const { name, version, manifestSha256, manifestUrl } = expected;
    await this.#io.store.deleteFiles(manifestSha256).catch(() => undefined);
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
    return {
      status: 'failed',
      ...(version === undefined ? {} : { version }),
      reason: describeUnknown(error),
      code: codeOf(error),
      stale: this.#stale,
    };
  }

  /** Keeps the active version and the newest other good ones, up to `keepVersions`; drops the rest's files. */
  async #evict(): Promise<void> {
    this.#alive();
    const keep = Math.max(1, this.#options.keepVersions ?? DEFAULT_KEEP_VERSIONS);
    const kept = new Set(
      this.#goodVersions()
        .slice(0, keep)
        .map((v) => v.manifestSha256),
    );
    const evicted = this.#record.versions.filter((v) => v.stored && !kept.has(v.manifestSha256));
    for (const v of evicted) await this.#io.store.deleteFiles(v.manifestSha256).catch(() => undefined);
    if (evicted.length > 0) {
      await this.#save({
        ...this.#record,
        versions: this.#record.versions.map((v) => (evicted.includes(v) ? { ...v, stored: false } : v)),
      });
    }
  }

  /** Stored good versions: the active one first, then newest first. */
  #goodVersions(): StoredVersion[] {
    return this.#record.versions
      .filter((v) => v.stored && v.status !== 'rejected')
      .sort(
        (a, b) =>
          Number(b.manifestSha256 === this.#record.active) - Number(a.manifestSha256 === this.#record.active) ||
          compareVersions(b.version, a.version),
      );
  }

  async #upsert(entry: StoredVersion): Promise<void> {
    const others = this.#record.versions.filter((v) => v.manifestSha256 !== entry.manifestSha256);
    await this.#save({ ...this.#record, versions: [...others, entry] });
  }

  async #save(record: ChannelRecord): Promise<void> {
    if (this.#disposed) return;
    this.#record = record;
    await this.#io.store.writeRecord(record).catch(() => undefined);
  }

  #trust(): { publicKeys?: readonly string[] } {
    return this.#options.publicKeys === undefined ? {} : { publicKeys: this.#options.publicKeys };
  }

  #schedule(): void {
    if (this.#disposed) return;
    const every = this.#options.updateIntervalMs;
    if (every !== undefined && every > 0 && this.#timer === undefined) this.#timer = setInterval(() => void this.update(), every);
  }
}

function expectedOf(version: VerifiedVersion): ExpectedVersion {
  return {
    name: version.manifest.name,
    version: version.manifest.version,
    manifestSha256: version.manifestSha256,
    manifestUrl: version.manifestUrl,
  };
}

/** Releases a retired version's runtime, once. */
function release(lease: Lease): void {
  if (lease.released) return;
  lease.released = true;
  void lease.scorer.runtime.dispose().catch(() => undefined);
}

/**
 * Refuses a version whose description cannot cross to the app's thread (its metadata, say): it
 * could never answer `info()`, and would fail every start. Its runtime is released first.
 */
async function checkSendable(info: ModelInfo, model: GatedModel): Promise<void> {
  try {
    structuredClone(info);
  } catch (error) {
    await model.scorer.runtime.dispose();
    throw new BundleError('INVALID_MANIFEST', `${info.name} ${info.version} cannot be described to the app: ${describeUnknown(error)}`, {
      version: info.version,
    });
  }
}

/** The app's network option merged over the defaults, each value checked (the option comes unchecked). */
function networkSettings(network: WorkerLoadOptions['network']): NetworkLimits & MetadataCaps {
  const settings = { ...DEFAULT_NETWORK_LIMITS, ...DEFAULT_METADATA_CAPS };
  if (network === undefined) return settings;
  if (typeof network !== 'object' || network === null)
    throw new InputError('INVALID_OPTION', 'network must be an object of limits', { field: 'network' });
  for (const key of Object.keys(settings) as (keyof typeof settings)[]) {
    const value: unknown = network[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_NETWORK_SETTING) {
      throw new InputError('INVALID_OPTION', `network.${key} must be a whole number from 1 to ${MAX_NETWORK_SETTING}`, {
        field: `network.${key}`,
      });
    }
    settings[key] = value;
  }
  return settings;
}

/** Each pinned key an Ed25519 public key in base64url (32 bytes): a malformed one is the app's mistake, said as such. */
function checkPublicKeys(keys: unknown): void {
  if (keys === undefined) return;
  if (!Array.isArray(keys))
    throw new InputError('INVALID_OPTION', 'publicKeys must be an array of base64url strings', { field: 'publicKeys' });
  keys.forEach((key: unknown, i) => {
    let length = -1;
    try {
      if (typeof key === 'string' && /^[A-Za-z0-9_-]*$/.test(key)) length = decodeBase64Url(key).byteLength;
    } catch {
      // Not base64: reported below.
    }
    if (length !== 32)
      throw new InputError(
        'INVALID_OPTION',
        `publicKeys[${i}] must be an Ed25519 public key, 32 bytes in base64url (ondevice keygen writes one)`,
        {
          field: `publicKeys[${i}]`,
        },
      );
  });
}

/** The largest a network limit may be set to: about 24 days in milliseconds, 2 GiB in bytes (a timer's own maximum). */
const MAX_NETWORK_SETTING = 2 ** 31 - 1;

function disposedResult(stale: boolean): UpdateResult {
  return { status: 'failed', reason: 'the model was disposed', code: 'DISPOSED', stale };
}

function codeOf(error: unknown): string {
  return error instanceof OndeviceError ? error.code : 'UNKNOWN';
}
