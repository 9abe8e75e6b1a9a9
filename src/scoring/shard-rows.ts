/**
 * Batches of fewer rows are scored by the worker alone: the messaging would cost more than it
 * saves. Its own module: the pool's code is a chunk
 * of its own, imported only when a batch this large comes.
 */
export const SHARD_MIN_ROWS = 8192;
