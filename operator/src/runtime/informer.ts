import type { Logger } from "@konstruct/core/logger";
import { KubeApiError } from "../errors.ts";
import type { KubeClient } from "../kube/kube-client.ts";

export interface InformerOptions<T extends KubeObject = KubeObject> {
  /** Collection path, e.g. /apis/konstruct.io/v1alpha1/tenants. */
  path: string;
  resource: string;
  /** Abort and relist a watch that delivers nothing (not even a bookmark) for this long. */
  watchdogMs: number;
  log: Logger;
  /** Called with each object key whose object was added, changed or deleted, with the version it replaced. */
  onChange?(key: string, object: T | null, previous: T | undefined): void;
  onRestart?(reason: string): void;
  /** Only the objects these selectors match (the API server's `labelSelector` / `fieldSelector`). */
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * What the cache keeps of each object, for caches of many objects of which a reconcile reads
   * a few fields; by default the object without its managed fields.
   */
  transform?: (object: KubeObject) => T;
}

/** What the informer and the work queue read of any object: its identity, version and lifecycle. */
export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number; deletionTimestamp?: string };
}

export function keyOf(object: KubeObject): string {
  return object.metadata.namespace ? `${object.metadata.namespace}/${object.metadata.name}` : object.metadata.name;
}

/**
 * A supervised list-and-watch cache. @kubernetes/client-node's informer stops on errors other
 * than 410 and has stalled silently in some versions; this loop never stops: any error or
 * end of stream restarts it with backoff (a clean end re-watches from the last version, an
 * error or 410 Gone relists), and a watchdog aborts a watch that went quiet.
 */
export class Informer<T extends KubeObject = KubeObject> {
  readonly #options: InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  readonly #client: KubeClient;
  readonly #keep: (object: KubeObject) => T;
  readonly #selectors: Record<string, string>;
  #controller = new AbortController();
  #loop: Promise<void> | undefined;
  #synced = false;

  constructor(client: KubeClient, options: InformerOptions<T>) {
    this.#client = client;
    this.#options = options;
    this.#keep = options.transform ?? ((object) => slim(object as T));
    this.#selectors = {
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
      ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
    };
  }

  get synced(): boolean {
    return this.#synced;
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  start(): void {
    this.#controller = new AbortController();
    this.#loop = this.#run(this.#controller.signal);
  }

  async stop(): Promise<void> {
    this.#controller.abort(new Error("informer stopped"));
    await this.#loop;
    this.#cache.clear();
    this.#synced = false;
  }

  async #relist(): Promise<string> {
    // In pages: at 10,000 Tenants one LIST is tens of megabytes of JSON, parsed at once on a
    // bounded heap and slow enough to hit the client's timeout on a busy API server.
    const items: T[] = [];
    let resourceVersion = "";
    let next: string | undefined;
    do {
      const page: { metadata: { resourceVersion: string; continue?: string }; items: KubeObject[] } = await this.#client.request(
        "GET",
        this.#options.path,
        { query: { ...this.#selectors, limit: String(LIST_PAGE_SIZE), ...(next ? { continue: next } : {}) } },
      );
      for (const item of page.items) items.push(this.#keep(item));
      resourceVersion = page.metadata.resourceVersion;
      next = page.metadata.continue || undefined;
    } while (next);
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const before = this.#cache.get(key);
      this.#cache.set(key, item);
      if (before?.metadata.resourceVersion !== item.metadata.resourceVersion) this.#options.onChange?.(key, item, before);
    }
    for (const key of [...this.#cache.keys()]) {
      if (!seen.has(key)) {
        const before = this.#cache.get(key);
        this.#cache.delete(key);
        this.#options.onChange?.(key, null, before);
      }
    }
    this.#synced = true;
    return resourceVersion;
  }

  async #run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let resourceVersion: string | null = null;
    while (!signal.aborted) {
      try {
        if (resourceVersion === null) resourceVersion = await this.#relist();
        failures = 0;
        await this.#client.watch<KubeObject>(
          this.#options.path,
          {
            ...this.#selectors,
            resourceVersion,
            allowWatchBookmarks: "true",
            // Server-side timeout below the watchdog keeps healthy watches cycling on their own.
            timeoutSeconds: String(Math.max(1, Math.floor((this.#options.watchdogMs / 1000) * (0.5 + Math.random() * 0.4)))),
          },
          (event) => {
            if (event.type === "ERROR") {
              throw new KubeApiError(event.object.code ?? 500, "WatchError", event.object.message ?? "watch error");
            }
            resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
            if (event.type === "BOOKMARK") return;
            const object = this.#keep(event.object);
            const key = keyOf(object);
            const before = this.#cache.get(key);
            if (event.type === "DELETED") this.#cache.delete(key);
            else this.#cache.set(key, object);
            this.#options.onChange?.(key, event.type === "DELETED" ? null : object, before);
          },
          signal,
          this.#options.watchdogMs,
        );
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        const gone = error instanceof KubeApiError && error.status === 410;
        const reason = gone ? "gone" : error instanceof KubeApiError ? `http_${error.status}` : "error";
        this.#options.onRestart?.(reason);
        // After an error the cache may have missed events: relist.
        resourceVersion = null;
        const delay = gone ? 0 : Math.min(30_000, 250 * 2 ** Math.min(failures, 7)) * (0.5 + Math.random());
        if (!gone)
          this.#options.log.warn(
            { resource: this.#options.resource, err: error, retryInMs: Math.round(delay) },
            "watch failed; restarting",
          );
        await sleep(delay, signal);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Objects per page of a relist. */
const LIST_PAGE_SIZE = 500;

/**
 * The object without `metadata.managedFields` (server-side apply's field ownership, often
 * larger than the spec itself) and kubectl's last-applied annotation: no reconcile reads them,
 * and at 10,000 cached Tenants they were a large share of the operator's heap
 * (controller-runtime strips them the same way, `TransformStripManagedFields`).
 */
function slim<T extends KubeObject>(object: T): T {
  const metadata = object.metadata as KubeObject["metadata"] & { managedFields?: unknown; annotations?: Record<string, string> };
  if (metadata.managedFields === undefined && metadata.annotations?.[LAST_APPLIED] === undefined) return object;
  const { managedFields: _, ...rest } = metadata;
  if (rest.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: __, ...annotations } = rest.annotations;
    rest.annotations = annotations;
  }
  return { ...object, metadata: rest };
}

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
