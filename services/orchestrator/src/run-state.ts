import { keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/** The reply a run settled on, stored before any side effect so a redelivery never runs the model twice. */
export interface SettledReply {
  kind: "answer" | "notice" | "apology";
  text: string;
  model: string | null;
  promptTokens: number;
  completionTokens: number;
  /** Time spent in the model chain (every attempt and fallback); absent for platform notices. */
  latencyMs?: number;
}

/** Progress of one work item: each step is recorded once, so a redelivery resumes where a crash left off. */
export interface RunProgress {
  reply: SettledReply | null;
  tokensRecorded: boolean;
  memoryAppended: boolean;
  /**
   * Set only by older orchestrators, after a run's last step, and still read during a rolling
   * upgrade: such a run is acknowledged at once. Nothing sets it now: a later delivery of a
   * settled run delivers its reply again (run-agent.ts).
   */
  published: boolean;
}

/** Step flags in the run's hash. */
export const RUN_FIELDS = { reply: "reply", tokens: "tokens", memory: "memory", published: "published" } as const;

/**
 * Redis hash per delivery key recording the steps of its run. Reading the progress and storing
 * the reply are parts of the run's two scripts (run-redis.ts); these are the single steps around them.
 */
export interface RunState {
  /** The connection its steps run on, shared by the run's combined steps (run-redis.ts). */
  readonly redis: Redis;
  readonly ttlSeconds: number;
  key(tenantId: string, deliveryKey: string): string;
  /** Sets a step flag unless it is set; true for the one caller that set it. */
  claim(tenantId: string, deliveryKey: string, field: "tokens"): Promise<boolean>;
  unmark(tenantId: string, deliveryKey: string, field: "tokens"): Promise<void>;
}

// `settle_reply`: the reply is stored unless one is (first writer wins); part of the run's
// settle step (run-redis.ts).
export const SETTLE_LUA = `
local function settle_reply(run_hash, reply, ttl)
  redis.call('HSETNX', run_hash, 'reply', reply)
  redis.call('EXPIRE', run_hash, ttl)
  return redis.call('HGET', run_hash, 'reply')
end`;

/** Redis-backed {@link RunState}. */
export function createRunState(redis: Redis, ttlSeconds: number): RunState {
  const key = (tenantId: string, deliveryKey: string) => redisKey(tenantId, "idempotency", "run", keyPart(deliveryKey));
  return {
    redis,
    ttlSeconds,
    key,
    async claim(tenantId, deliveryKey, field) {
      return (await redis.hsetnx(key(tenantId, deliveryKey), RUN_FIELDS[field], "1")) === 1;
    },
    async unmark(tenantId, deliveryKey, field) {
      await redis.hdel(key(tenantId, deliveryKey), RUN_FIELDS[field]);
    },
  };
}
