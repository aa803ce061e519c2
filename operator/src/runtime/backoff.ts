/** How a per-key backoff grows. */
export interface BackoffOptions {
  /** Delay before the first retry. */
  baseMs: number;
  /** The delay stops doubling here; no retry waits longer. */
  maxMs: number;
}

/**
 * Per-key exponential backoff, as client-go's ItemExponentialFailureRateLimiter: the n-th
 * consecutive failure of a key waits up to base·2^(n-1), capped at max, and `forget` starts
 * the key over. Each delay is drawn from the upper half of that ceiling ("equal jitter"), so
 * keys that failed together (every Tenant when PostgreSQL goes down) spread out instead of
 * retrying in lockstep, and the cap stays a real maximum.
 */
export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  readonly #failures = new Map<string, number>();

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.#options = options;
    this.#random = random;
  }

  /** Counts one more consecutive failure of `key`; returns its number and the delay before the next try. */
  fail(key: string): { attempt: number; delayMs: number } {
    const attempt = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, attempt);
    return { attempt, delayMs: this.delay(attempt) };
  }

  /** Consecutive failures of `key` since it last succeeded or was forgotten. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Starts `key` over: it succeeded, its spec changed, or its object is gone. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Keys with at least one failure. */
  keys(): IterableIterator<string> {
    return this.#failures.keys();
  }

  /** The delay before retry number `attempt` (1-based). */
  delay(attempt: number): number {
    const { baseMs, maxMs } = this.#options;
    // 2 ** 1100 is Infinity, and Infinity * 0 is NaN: clamp the exponent first.
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 52));
    return Math.round(ceiling * (0.5 + this.#random() / 2));
  }
}
