/** What a reconcile asks of the queue. */
export interface HandlerResult {
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  /** Reconciles running at once, across keys. */
  concurrency: number;
  /** First retry delay after a failure; doubles per consecutive failure, with ±50% jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  handler(key: string): Promise<HandlerResult | undefined>;
  onError?(key: string, error: unknown, attempt: number): void;
  onDone?(key: string, seconds: number, outcome: "success" | "requeue" | "error"): void;
}

/**
 * A keyed work queue (client-go's workqueue, reduced): at most one reconcile per key in
 * flight, a key added while queued is queued once, a key added while in flight runs once more
 * afterwards, failures retry with exponential backoff and jitter, and at most `concurrency`
 * reconciles run at once.
 */
export class WorkQueue {
  readonly #options: WorkQueueOptions;
  readonly #queued = new Set<string>();
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #idle = new Set<() => void>();
  #stopped = false;

  constructor(options: WorkQueueOptions) {
    this.#options = options;
  }

  /** Keys waiting, for the queue-depth metric. */
  get depth(): number {
    return this.#queued.size;
  }

  get inFlight(): number {
    return this.#active.size;
  }

  add(key: string): void {
    if (this.#stopped) return;
    const timer = this.#timers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.#timers.delete(key);
    }
    if (this.#active.has(key)) this.#dirty.add(key);
    else this.#queued.add(key);
    this.#pump();
  }

  /** Adds `key` after `ms`, unless it is added sooner. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped || this.#timers.has(key)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, timer);
  }

  /** Forgets a key's failure count (its object is gone). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  #pump(): void {
    while (!this.#stopped && this.#active.size < this.#options.concurrency) {
      const key = this.#queued.values().next().value;
      if (key === undefined) break;
      this.#queued.delete(key);
      this.#active.add(key);
      void this.#run(key);
    }
    if (this.#active.size === 0) for (const resolve of this.#idle) resolve();
  }

  async #run(key: string): Promise<void> {
    const started = performance.now();
    let outcome: "success" | "requeue" | "error" = "success";
    try {
      const result = await this.#options.handler(key);
      this.#failures.delete(key);
      if (result?.requeueAfterMs !== undefined) {
        outcome = "requeue";
        this.addAfter(key, result.requeueAfterMs);
      }
    } catch (error) {
      outcome = "error";
      const attempt = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, attempt);
      this.#options.onError?.(key, error, attempt);
      this.addAfter(key, this.backoff(attempt));
    } finally {
      this.#options.onDone?.(key, (performance.now() - started) / 1000, outcome);
      this.#active.delete(key);
      if (this.#dirty.delete(key)) this.#queued.add(key);
      this.#pump();
    }
  }

  /** The delay before retry number `attempt`. */
  backoff(attempt: number): number {
    const base = this.#options.baseDelayMs ?? 200;
    const max = this.#options.maxDelayMs ?? 60_000;
    const delay = Math.min(max, base * 2 ** (attempt - 1));
    return Math.round(delay * (0.5 + Math.random()));
  }

  /** Stops taking work and waits for in-flight reconciles to finish. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#queued.clear();
    if (this.#active.size === 0) return;
    await new Promise<void>((resolve) => this.#idle.add(resolve));
  }
}
