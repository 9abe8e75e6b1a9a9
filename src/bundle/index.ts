export { openBundle } from './open.js';
export type { OpenedBundle, OpenOptions } from './open.js';
export type { DownloadProgress, ProgressListener } from './download.js';
export { parseManifest, contentHashOf, FILE_ROLES } from './manifest.js';
export type { Manifest, BundleFile, FileRole, Task, ClassificationTask, RegressionTask, GateSpec, MetricName } from './manifest.js';
export { parseChannel } from './channel.js';
export type { Channel, ChannelEntry } from './channel.js';
export { sha256Hex, isSha256Hex } from './hash.js';
