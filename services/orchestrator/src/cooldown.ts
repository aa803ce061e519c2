import type { LlmFailure } from "./llm-error.ts";

/** Options for {@link createCooldowns}. */
export interface CooldownOptions {
  /** Consecutive timeouts or server errors that open an endpoint's cooldown. */
  threshold?: number;
  /** The first cooldown; each one that ends in another failure doubles it, up to `maxMs`. */
  baseMs?: number;
  maxMs?: number;
  now?: () => number;
}

/** What {@link Cooldowns.check} says of an endpoint. */
export type CooldownState = { cooling: false } | { cooling: true; untilMs: number; cause: LlmFailure };

/**
 * Cooldowns per model endpoint, as LiteLLM keeps them: a deployment that keeps failing is
 * skipped without a call until its cooldown ends, then one call probes it; a success closes the
 * cooldown, a failure opens a longer one. A refused connection cools the whole server at once
 * (nothing listens; no retry or fallback on that address can help). Timeouts and server errors
 * cool only that model on that server, after `threshold` in a row: Ollama answers 500 when one
 * model's runner fails, while its other models may be fine. Failures that belong to one request
 * (not found, rejected, a bad response) are not counted.
 */
export interface Cooldowns {
  check(endpoint: string, model: string): CooldownState;
  failed(endpoint: string, model: string, failure: LlmFailure): void;
  succeeded(endpoint: string, model: string): void;
}

interface EndpointHealth {
  failures: number;
  untilMs: number;
  /** The length of the last cooldown, so a failed probe doubles it. */
  lastMs: number;
  /** The failure that opened the cooldown, so a skipped call reports the same kind. */
  cause: LlmFailure;
}

export function createCooldowns(options: CooldownOptions = {}): Cooldowns {
  const threshold = options.threshold ?? 3;
  const baseMs = options.baseMs ?? 5_000;
  const maxMs = options.maxMs ?? 60_000;
  const now = options.now ?? Date.now;
  const endpoints = new Map<string, EndpointHealth>();

  const cooling = (key: string): CooldownState => {
    const health = endpoints.get(key);
    if (!health || health.untilMs <= now()) return { cooling: false };
    return { cooling: true, untilMs: health.untilMs, cause: health.cause };
  };
  const modelKey = (endpoint: string, model: string) => `${endpoint} ${model}`;

  return {
    check(endpoint, model) {
      const server = cooling(endpoint);
      return server.cooling ? server : cooling(modelKey(endpoint, model));
    },
    failed(endpoint, model, failure) {
      if (failure !== "unreachable" && failure !== "timeout" && failure !== "server") return;
      const key = failure === "unreachable" ? endpoint : modelKey(endpoint, model);
      const health = endpoints.get(key) ?? { failures: 0, untilMs: 0, lastMs: 0, cause: failure };
      health.failures++;
      health.cause = failure;
      if (failure === "unreachable" || health.failures >= threshold) {
        // A probe after a cooldown that fails again waits twice as long.
        health.lastMs = health.lastMs === 0 ? baseMs : Math.min(maxMs, health.lastMs * 2);
        health.untilMs = now() + health.lastMs;
      }
      endpoints.set(key, health);
    },
    succeeded(endpoint, model) {
      endpoints.delete(endpoint);
      endpoints.delete(modelKey(endpoint, model));
    },
  };
}
