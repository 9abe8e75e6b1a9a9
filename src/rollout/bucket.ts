/**
 * A user's stable place in [0, 1) for a rollout: FNV-1a over the id and a salt. The same id always
 * lands in the same place, so raising a canary's share from 5% to 20% keeps the first 5% on it.
 */
export function bucketOf(userId: string, salt: string): number {
  let hash = 0x811c9dc5;
  const text = `${salt}\u0000${userId}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // Murmur3's finaliser spreads FNV's low-entropy high bits over the whole word.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 2 ** 32;
}

/** The bucket a canary of `bundle` puts `userId` in: below the canary's share, the user gets the candidate. */
export function canaryBucket(userId: string, bundle: string): number {
  return bucketOf(userId, `canary:${bundle}`);
}
