import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** A server-side script called by its SHA1: the script's text crosses the network once per server, not once per call. */
export type RedisScript = (redis: Redis, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * Wraps a Lua script for EVALSHA with a fallback to EVAL when the server does not know it yet
 * (a new or restarted Redis answers NOSCRIPT; EVAL also loads it). A script is one atomic step
 * and one round trip, which is why the services' hot paths are scripts. Only the services' own
 * Redis users may run them: tenant users are denied `@scripting` (operator's tenant-redis.ts).
 */
export function redisScript(lua: string): RedisScript {
  const sha = createHash("sha1").update(lua, "utf8").digest("hex");
  return async (redis, keys, args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return redis.eval(lua, keys.length, ...keys, ...args);
    }
  };
}
