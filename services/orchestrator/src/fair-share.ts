/**
 * Model calls to one model server, at most `parallel` at a time, with tenants taking turns for
 * the rest. A model server serves a few requests at once (Ollama's `OLLAMA_NUM_PARALLEL`) and
 * queues the others in arrival order, so without this one tenant's burst of 30 runs put every
 * other tenant's message behind all 30. Here the queue is per tenant and a freed place goes to
 * the next tenant in turn (round robin over the tenants waiting), so a tenant waits for at most
 * one call of each other tenant with work queued, whatever the size of their bursts. The
 * tenant's own `maxConcurrentRuns` still bounds how many runs it has in flight at all.
 */
export interface FairShare {
  /** Runs `call` once a place is free and it is `tenantId`'s turn. */
  run<T>(tenantId: string, call: () => Promise<T>): Promise<T>;
  readonly inFlight: number;
  readonly queued: number;
}

/** A {@link FairShare} of `parallel` places (`Infinity`: no queue at all). */
export function createFairShare(parallel: number): FairShare {
  let inFlight = 0;
  let queued = 0;
  const queues = new Map<string, (() => void)[]>();
  // Tenants with calls waiting, in the order their turns come.
  const turns: string[] = [];

  const next = () => {
    while (inFlight < parallel && turns.length > 0) {
      const tenantId = turns.shift() as string;
      const queue = queues.get(tenantId) as (() => void)[];
      const start = queue.shift() as () => void;
      if (queue.length > 0) turns.push(tenantId);
      else queues.delete(tenantId);
      queued--;
      inFlight++;
      start();
    }
  };

  return {
    async run(tenantId, call) {
      if (inFlight < parallel && turns.length === 0) inFlight++;
      else {
        await new Promise<void>((resolve) => {
          let queue = queues.get(tenantId);
          if (!queue) {
            queue = [];
            queues.set(tenantId, queue);
            turns.push(tenantId);
          }
          queue.push(resolve);
          queued++;
        });
      }
      try {
        return await call();
      } finally {
        inFlight--;
        next();
      }
    },
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return queued;
    },
  };
}
