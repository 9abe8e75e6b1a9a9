export { fetchChannel, fetchVersion, openStored, expectedFromChannel } from './remote.js';
export type { BundleBytes, VerifiedVersion, TrustOptions, FetchedChannel, ExpectedVersion } from './remote.js';
export { emptyRecord, indexedDbStore, memoryStore, defaultStore } from './store.js';
export type { ChannelRecord, StoredVersion, VersionStatus, VersionStore } from './store.js';
export type { DownloadProgress, ProgressListener, FetchLike, NetworkLimits, MetadataCaps } from './download.js';
export {
  parseJsonBytes,
  globalFetch,
  boundedFetcher,
  downloadVerified,
  readCapped,
  DEFAULT_NETWORK_LIMITS,
  DEFAULT_METADATA_CAPS,
  MAX_JSON_DEPTH,
} from './download.js';
export { parseManifest, contentHashOf, presentRoles, variantRole, isVariantName, FILE_ROLES, REQUIRED_ROLES } from './manifest.js';
export type {
  Manifest,
  ModelMetadata,
  ModelVariant,
  BundleFile,
  BundleFiles,
  FileRole,
  RequiredRole,
  Task,
  ClassificationTask,
  BinaryTask,
  OutputsTask,
  TaskOutput,
  EmbeddingTask,
  OutputChecks,
  RegressionTask,
  GateSpec,
  MetricName,
} from './manifest.js';
export { parseChannel } from './channel.js';
export type { Channel, ChannelEntry, Approval } from './channel.js';
export { isExpired } from './channel.js';
export { compareVersions, isVersion } from './version.js';
export { parseSignatureFile, verifySigned, keyIdOf, signatureUrlOf, encodeBase64Url, decodeBase64Url } from './signature.js';
export type { SignatureFile, Signature } from './signature.js';
export { sha256Hex, isSha256Hex } from './hash.js';
export { defaultIo } from './io.js';
export type { BundleIo } from './io.js';
