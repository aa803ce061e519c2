import { afterEach, describe, expect, it, vi } from "vitest";
import { NOT_READY_BACKOFF, WorkQueue } from "./work-queue.ts";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("WorkQueue", () => {
  it("never runs one key twice at once, and runs it once more when added while in flight", async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const queue = new WorkQueue({
      concurrency: 4,
      handler: async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        await tick(20);
        running--;
        return undefined;
      },
    });
    queue.add("a");
    await tick();
    for (let i = 0; i < 10; i++) queue.add("a");
    await tick(100);
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it("de-duplicates queued keys and bounds concurrency", async () => {
    let running = 0;
    let maxRunning = 0;
    const seen: string[] = [];
    const queue = new WorkQueue({
      concurrency: 2,
      handler: async (key) => {
        seen.push(key);
        running++;
        maxRunning = Math.max(maxRunning, running);
        await tick(10);
        running--;
        return undefined;
      },
    });
    for (const k of ["a", "b", "c", "c", "d", "d", "d"]) queue.add(k);
    await tick(100);
    expect(seen.sort()).toEqual(["a", "b", "c", "d"]);
    expect(maxRunning).toBe(2);
  });

  it("runs keys queued because something changed before the periodic resync's, which still all run", async () => {
    const order: string[] = [];
    const queue = new WorkQueue({
      concurrency: 1,
      handler: async (key) => {
        order.push(key);
        await tick(2);
        return undefined;
      },
    });
    queue.add("busy");
    for (const key of ["r1", "r2", "r3", "r4"]) queue.resync(key);
    // A new object and a changed one arrive after the resync queued thousands of healthy ones.
    queue.add("new");
    queue.add("r3");
    await tick(50);
    expect(order).toEqual(["busy", "new", "r3", "r1", "r2", "r4"]);
    await queue.shutdown();
  });

  it("retries failures with growing, jittered backoff", async () => {
    const times: number[] = [];
    const queue = new WorkQueue({
      concurrency: 1,
      baseDelayMs: 10,
      handler: async () => {
        times.push(performance.now());
        if (times.length < 4) throw new Error("not yet");
        return undefined;
      },
    });
    queue.add("k");
    // Waits for the fourth attempt rather than a fixed 300 ms, which a loaded machine outran.
    await vi.waitFor(() => expect(times).toHaveLength(4), { timeout: 10_000, interval: 20 });
    await tick(50);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps[2]).toBeGreaterThan(gaps[0] as number);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const d = queue.backoff(attempt);
      expect(d).toBeGreaterThanOrEqual(10 * 2 ** (attempt - 1) * 0.5);
      expect(d).toBeLessThanOrEqual(10 * 2 ** (attempt - 1) * 1.5);
    }
    await queue.shutdown();
  });
});

describe("WorkQueue backoff on not-ready results", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A queue whose handler reports not-ready while `down.value`, recording each run's (fake) time per key. */
  function notReadyQueue(options: { concurrency?: number; random?: () => number } = {}) {
    const down = { value: true };
    const runs = new Map<string, number[]>();
    const requeues: { key: string; attempt: number; delayMs: number }[] = [];
    const queue = new WorkQueue({
      concurrency: options.concurrency ?? 8,
      random: options.random ?? (() => 0.5),
      handler: async (key) => {
        runs.set(key, [...(runs.get(key) ?? []), Date.now()]);
        return down.value ? { requeue: true } : {};
      },
      onRequeue: (key, attempt, delayMs) => requeues.push({ key, attempt, delayMs }),
    });
    return { queue, down, runs, requeues };
  }

  it("retries one key with doubling delays up to the cap, and success starts it over", async () => {
    vi.useFakeTimers();
    const { queue, down, runs, requeues } = notReadyQueue({ random: () => 0.999_999 });
    queue.add("acme");
    await vi.advanceTimersByTimeAsync(20 * 60_000);
    // Runs at 0, 1, 3, 7, 15, 31, 63, 127, 255, 511 s, then every 300 s.
    const gaps = (runs.get("acme") ?? []).slice(1).map((t, i) => t - ((runs.get("acme") ?? [])[i] as number));
    expect(gaps.slice(0, 10).map((g) => Math.round(g / 1000))).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
    expect(queue.retries("acme")).toBe(runs.get("acme")?.length);
    expect(queue.backingOff).toBe(1);

    down.value = false;
    await vi.advanceTimersByTimeAsync(300_000);
    expect(queue.retries("acme")).toBe(0);
    expect(queue.backingOff).toBe(0);

    // The next outage starts again from the base delay.
    down.value = true;
    requeues.length = 0;
    queue.add("acme");
    await vi.advanceTimersByTimeAsync(0);
    expect(requeues).toEqual([{ key: "acme", attempt: 1, delayMs: 1_000 }]);
    await queue.shutdown();
  });

  it("keeps 500 keys against a dependency down for ten minutes to a logarithmic number of attempts each", async () => {
    vi.useFakeTimers();
    const { queue, runs } = notReadyQueue({ random: Math.random });
    const keys = Array.from({ length: 500 }, (_, i) => `tenant-${i}`);
    const start = Date.now();
    for (const key of keys) queue.add(key);
    const minutes = 10;
    await vi.advanceTimersByTimeAsync(minutes * 60_000);
    const total = [...runs.values()].reduce((n, r) => n + r.length, 0);
    const lastMinute = [...runs.values()].flat().filter((t) => t - start >= (minutes - 1) * 60_000).length;
    // The n-th retry waits at least base·2^(n-2) (equal jitter), so by time t a key has run at
    // most 2 + log2(t / base) + (cap-limited runs after the doubling ends) times.
    const perKeyBound = 2 + Math.log2(minutes * 60) + 1;
    for (const key of keys) expect(runs.get(key)?.length).toBeLessThanOrEqual(perKeyBound);
    // A key at the cap runs at most once per cap/2 = 150 s: at most one run per key in any minute.
    expect(lastMinute).toBeLessThanOrEqual(keys.length);
    // The fixed 10 s requeue this replaces: 500 keys × 60 runs in ten minutes.
    expect(total).toBeLessThan((keys.length * minutes * 60) / 10 / 4);
    console.info(
      `500 keys not ready for ${minutes} min: ${total} reconciles (${(total / keys.length).toFixed(1)} per key), ` +
        `${lastMinute} in the last minute; a fixed 10 s requeue: ${keys.length * minutes * 6}`,
    );
    await queue.shutdown();
  });

  it("leaves a backing-off key to its backoff at resync, and resyncs a healthy key at once", async () => {
    vi.useFakeTimers();
    const { queue, down, runs } = notReadyQueue();
    queue.add("failing");
    await vi.advanceTimersByTimeAsync(0);
    expect(runs.get("failing")).toHaveLength(1);
    for (let i = 0; i < 5; i++) queue.resync("failing");
    await vi.advanceTimersByTimeAsync(0);
    expect(runs.get("failing")).toHaveLength(1);

    down.value = false;
    queue.add("healthy");
    await vi.advanceTimersByTimeAsync(0);
    queue.resync("healthy");
    await vi.advanceTimersByTimeAsync(0);
    expect(runs.get("healthy")).toHaveLength(2);
    await queue.shutdown();
  });

  it("starts the backoff over when the spec changes (renew), and a thrown error has its own backoff", async () => {
    vi.useFakeTimers();
    const { queue, requeues } = notReadyQueue();
    queue.add("acme");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(requeues.at(-1)?.attempt).toBeGreaterThan(2);
    queue.renew("acme");
    await vi.advanceTimersByTimeAsync(0);
    expect(requeues.at(-1)).toEqual({ key: "acme", attempt: 1, delayMs: NOT_READY_BACKOFF.baseMs * 0.75 });
    await queue.shutdown();

    const errors: number[] = [];
    let calls = 0;
    const failing = new WorkQueue({
      concurrency: 1,
      random: () => 0.5,
      handler: async () => {
        calls++;
        if (calls % 2 === 1) throw new Error("conflict");
        return { requeue: true };
      },
      onError: (_key, _error, attempt) => errors.push(attempt),
      onRequeue: (_key, attempt) => errors.push(-attempt),
    });
    failing.add("k");
    await vi.advanceTimersByTimeAsync(60_000);
    // Errors and not-ready results alternate; each kind counts its own streak, and a returned
    // result ends the error streak.
    expect(errors.slice(0, 4)).toEqual([1, -1, 1, -2]);
    await failing.shutdown();
  });
});
