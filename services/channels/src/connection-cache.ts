/** Cache settings every channel's connection store takes. */
export interface ConnectionCacheOptions {
  /** How long a found connection is reused; a rotated credential or changed setting shows after this. */
  ttlMs?: number;
  /** How long an unknown id is remembered, so requests to random ids do not each hit the database. */
  negativeTtlMs?: number;
  /** Cached entries at most; the oldest go first. */
  maxEntries?: number;
  now?: () => number;
}

/**
 * A read-through cache of connections by id: found ones for `ttlMs`, unknown ids (null) for
 * the shorter `negativeTtlMs`, and concurrent misses for one id share one load.
 */
export function createConnectionCache<V>(
  load: (connectionId: string) => Promise<V | null>,
  options: ConnectionCacheOptions = {},
): ConnectionCache<V> {
  const ttlMs = options.ttlMs ?? 30_000;
  const negativeTtlMs = options.negativeTtlMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { value: V | null; expires: number }>();
  const loading = new Map<string, Promise<V | null>>();
  const get = async (connectionId: string): Promise<V | null> => {
    const hit = cache.get(connectionId);
    if (hit && hit.expires > now()) return hit.value;
    let pending = loading.get(connectionId);
    if (!pending) {
      pending = load(connectionId).finally(() => loading.delete(connectionId));
      loading.set(connectionId, pending);
    }
    const value = await pending;
    // Re-inserting keeps the Map in insertion order, so the first key is the oldest entry.
    cache.delete(connectionId);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(connectionId, { value, expires: now() + (value ? ttlMs : negativeTtlMs) });
    return value;
  };
  // A load in flight when the entry is forgotten may still put the old value back; writers
  // that forget (an installation) do so after their write committed, so a later load sees it.
  return Object.assign(get, { forget: (connectionId: string) => void cache.delete(connectionId) });
}

/** A cached lookup of connections by id, with a way to drop one entry after its row changed. */
export type ConnectionCache<V> = ((connectionId: string) => Promise<V | null>) & { forget(connectionId: string): void };
