export { openBundle } from './open.js';
export type { OpenedBundle, OpenOptions, BundleBytes } from './open.js';
export type { DownloadProgress, ProgressListener } from './download.js';
export { parseManifest, contentHashOf, presentRoles, FILE_ROLES, REQUIRED_ROLES } from './manifest.js';
export type { Manifest, BundleFile, BundleFiles, FileRole, RequiredRole, Task, ClassificationTask, RegressionTask, GateSpec, MetricName } from './manifest.js';
export { parseChannel } from './channel.js';
export type { Channel, ChannelEntry } from './channel.js';
export { sha256Hex, isSha256Hex } from './hash.js';
