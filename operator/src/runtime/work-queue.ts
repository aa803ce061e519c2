import { Backoff, type BackoffOptions } from "./backoff.ts";

/** What a reconcile asks of the queue. */
export interface HandlerResult {
  /**
   * Not ready yet (a dependency is down, a Secret is missing): look again after a per-key
   * backoff that doubles with each consecutive not-ready result, as controller-runtime does
   * for `Result{Requeue: true}`. Without it the key is done until something changes.
   */
  requeue?: boolean;
}

/**
 * Backoff after a not-ready result. client-go's default (5 ms doubling to 1000 s) is tuned for
 * optimistic-concurrency conflicts that clear at once; a not-ready result means a database
 * that is down or a Secret someone has yet to create. The first retry after a second catches
 * a blip (a failover, a Redis restart); doubling then reaches the five-minute cap on the tenth
 * try, so 500 Tenants against a dead PostgreSQL settle at about two reconciles a second
 * instead of the fifty a fixed 10 s requeue cost (work-queue.test.ts counts it). The operator
 * lowers the cap to its resync interval, so no object waits longer than the resync would have.
 */
export const NOT_READY_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 1_000, maxMs: 300_000 });

export interface WorkQueueOptions {
  /** Reconciles running at once, across keys. */
  concurrency: number;
  /** First retry delay after a thrown error (a conflict, a lost connection); doubles per consecutive error. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Backoff after a not-ready result; NOT_READY_BACKOFF unless given. */
  notReadyBackoff?: BackoffOptions;
  /** Jitter source, for tests. */
  random?: () => number;
  handler(key: string): Promise<HandlerResult | undefined>;
  onError?(key: string, error: unknown, attempt: number): void;
  /** A not-ready result, the how-many-th in a row, and when the key runs again. */
  onRequeue?(key: string, attempt: number, delayMs: number): void;
  onDone?(key: string, seconds: number, outcome: "success" | "requeue" | "error"): void;
}

/**
 * A keyed work queue (client-go's workqueue, reduced): at most one reconcile per key in
 * flight, a key added while queued is queued once, a key added while in flight runs once more
 * afterwards, errors and not-ready results retry with per-key exponential backoff (each kind
 * its own; success starts both over), and at most `concurrency` reconciles run at once.
 * Keys queued by the periodic resync wait behind every key queued because something changed
 * (controller-runtime's priority queue does the same): with 10,000 Tenants a full resync pass
 * outlasts the resync interval, and a new Tenant queued behind thousands of drift checks of
 * healthy ones waited minutes to be provisioned.
 */
export class WorkQueue {
  readonly #options: WorkQueueOptions;
  readonly #queued = new Set<string>();
  /** Keys queued by resync only: they run when #queued is empty. */
  readonly #resyncQueued = new Set<string>();
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #errors: Backoff;
  readonly #notReady: Backoff;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #idle = new Set<() => void>();
  #stopped = false;

  constructor(options: WorkQueueOptions) {
    this.#options = options;
    this.#errors = new Backoff({ baseMs: options.baseDelayMs ?? 200, maxMs: options.maxDelayMs ?? 60_000 }, options.random);
    this.#notReady = new Backoff(options.notReadyBackoff ?? NOT_READY_BACKOFF, options.random);
  }

  /** Keys waiting, for the queue-depth metric. */
  get depth(): number {
    return this.#queued.size + this.#resyncQueued.size;
  }

  get inFlight(): number {
    return this.#active.size;
  }

  /** Keys whose last reconcile failed or was not ready, waiting out their backoff. */
  get backingOff(): number {
    return new Set([...this.#errors.keys(), ...this.#notReady.keys()]).size;
  }

  /** Consecutive unsuccessful reconciles of `key` (errors and not-ready results), as client-go's NumRequeues. */
  retries(key: string): number {
    return this.#errors.failures(key) + this.#notReady.failures(key);
  }

  /** Queues `key` now, ahead of any backoff it was waiting out (something about it changed). */
  add(key: string): void {
    if (this.#stopped) return;
    const timer = this.#timers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.#timers.delete(key);
    }
    this.#resyncQueued.delete(key);
    if (this.#active.has(key)) this.#dirty.add(key);
    else this.#queued.add(key);
    this.#pump();
  }

  /**
   * The periodic drift check: queues `key` unless it is backing off. A failing key is looked
   * at again by its own backoff; re-adding it here would undo the backoff once per resync and
   * bring every failing key back at the same moment.
   */
  resync(key: string): void {
    if (this.#stopped || this.retries(key) > 0) return;
    // Queued or running already: that reconcile is the drift check.
    if (this.#queued.has(key) || this.#active.has(key) || this.#timers.has(key)) return;
    this.#resyncQueued.add(key);
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

  /** Starts a key's backoff over: its object is gone. */
  forget(key: string): void {
    this.#errors.forget(key);
    this.#notReady.forget(key);
  }

  /** Queues `key` now with its backoff started over: its spec changed, so the last failure says little about the next. */
  renew(key: string): void {
    this.forget(key);
    this.add(key);
  }

  #pump(): void {
    while (!this.#stopped && this.#active.size < this.#options.concurrency) {
      const key = this.#queued.values().next().value ?? this.#resyncQueued.values().next().value;
      if (key === undefined) break;
      this.#queued.delete(key);
      this.#resyncQueued.delete(key);
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
      this.#errors.forget(key);
      if (result?.requeue) {
        outcome = "requeue";
        const { attempt, delayMs } = this.#notReady.fail(key);
        this.#options.onRequeue?.(key, attempt, delayMs);
        this.addAfter(key, delayMs);
      } else {
        this.#notReady.forget(key);
      }
    } catch (error) {
      outcome = "error";
      const { attempt, delayMs } = this.#errors.fail(key);
      this.#options.onError?.(key, error, attempt);
      this.addAfter(key, delayMs);
    } finally {
      this.#options.onDone?.(key, (performance.now() - started) / 1000, outcome);
      this.#active.delete(key);
      if (this.#dirty.delete(key)) this.#queued.add(key);
      this.#pump();
    }
  }

  /** The delay before retry number `attempt` after consecutive errors. */
  backoff(attempt: number): number {
    return this.#errors.delay(attempt);
  }

  /** Stops taking work and waits for in-flight reconciles to finish. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#queued.clear();
    this.#resyncQueued.clear();
    if (this.#active.size === 0) return;
    await new Promise<void>((resolve) => this.#idle.add(resolve));
  }
}
