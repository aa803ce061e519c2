import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@konstruct/core";
import { type Cooldowns, createCooldowns } from "./cooldown.ts";
import { createFairShare, type FairShare } from "./fair-share.ts";
import { LlmError } from "./llm-error.ts";
import type { ChatMessage, ChatResult, LlmProvider } from "./llm-provider.ts";

/** Options for {@link createLlmPool}. */
export interface LlmPoolOptions {
  ollama: LlmProvider;
  /** Serves models named `openai:<model>`, when configured. */
  openai?: LlmProvider;
  timeoutMs: number;
  /** Extra attempts of one model after a transient failure. */
  retries: number;
  retryBaseMs: number;
  /** Endpoint cooldowns; by default the pool keeps its own (one per process). */
  cooldowns?: Cooldowns;
  /**
   * Calls in flight per provider's model server from this process (`ollama`, `openai`); more
   * wait, tenants taking turns (fair-share.ts). Unlimited when not given.
   */
  parallel?: { ollama?: number; openai?: number };
}

/** What the pool was asked: the agent's model chain and the conversation. */
export interface PoolRequest {
  /** Whose run this is: tenants take turns for a busy model server. */
  tenantId?: string;
  models: readonly string[];
  messages: ChatMessage[];
  temperature: number;
  log: Logger;
  /**
   * Each piece of the answer as the model writes it, with the number of the call it came from:
   * a retry or a fallback starts the text over with a higher number.
   */
  onText?: (text: string, attempt: number) => void;
}

/** The answer, or every failure on the way to giving up. */
export type PoolResult =
  | { ok: true; result: ChatResult; attempts: number /** 0 for the agent's own model, 1+ for fallbacks. */; modelIndex: number }
  | { ok: false; errors: LlmError[] };

/** Runs a chat against a model chain: the agent's model first, then its fallbacks in order. */
export interface LlmPool {
  chat(request: PoolRequest): Promise<PoolResult>;
}

const OPENAI_PREFIX = "openai:";

/**
 * The LLM pool. Each model is tried up to `1 + retries` times while its failures are
 * transient (unreachable, timeout, 5xx, 429), with exponential backoff and jitter; a model
 * that does not exist or rejects the request is skipped at once. Then the next model. An
 * endpoint in cooldown (cooldown.ts) is skipped without a call, so a model server that is down
 * costs one failed call per cooldown, not one per retry, fallback and message.
 */
export function createLlmPool(options: LlmPoolOptions): LlmPool {
  const cooldowns = options.cooldowns ?? createCooldowns();
  const shares = new Map<string, FairShare>();
  const shareOf = (provider: LlmProvider): FairShare => {
    let share = shares.get(provider.endpoint);
    if (!share) {
      const parallel = options.parallel?.[provider.name as "ollama" | "openai"] ?? Number.POSITIVE_INFINITY;
      share = createFairShare(parallel);
      shares.set(provider.endpoint, share);
    }
    return share;
  };
  const providerFor = (model: string): { provider: LlmProvider; name: string } | null => {
    if (model.startsWith(OPENAI_PREFIX)) {
      return options.openai ? { provider: options.openai, name: model.slice(OPENAI_PREFIX.length) } : null;
    }
    return { provider: options.ollama, name: model };
  };

  return {
    async chat({ tenantId = "", models, messages, temperature, log, onText }) {
      const errors: LlmError[] = [];
      let attempts = 0;
      for (const [modelIndex, model] of models.entries()) {
        const target = providerFor(model);
        if (!target) {
          errors.push(new LlmError("rejected", model, "no OpenAI-compatible provider is configured (set OPENAI_BASE_URL)"));
          continue;
        }
        const { endpoint } = target.provider;
        for (let attempt = 0; attempt <= options.retries; attempt++) {
          const state = cooldowns.check(endpoint, target.name);
          if (state.cooling) {
            const until = new Date(state.untilMs).toISOString();
            errors.push(new LlmError(state.cause, model, `skipped: its server is cooling down after failing (until ${until})`));
            break;
          }
          attempts++;
          const call = attempts;
          try {
            const result = await shareOf(target.provider).run(tenantId, () =>
              target.provider.chat({
                model: target.name,
                messages,
                temperature,
                timeoutMs: options.timeoutMs,
                ...(onText ? { onText: (text: string) => onText(text, call) } : {}),
              }),
            );
            cooldowns.succeeded(endpoint, target.name);
            return { ok: true, result, attempts, modelIndex };
          } catch (error) {
            const failure =
              error instanceof LlmError ? error : new LlmError("bad-response", model, String(error), { cause: error });
            cooldowns.failed(endpoint, target.name, failure.failure);
            errors.push(failure);
            log.warn({ model, attempt, failure: failure.failure, err: failure.message }, "model call failed");
            if (!failure.retryable || attempt === options.retries) break;
            const backoff = options.retryBaseMs * 2 ** attempt;
            await sleep(backoff / 2 + Math.random() * (backoff / 2));
          }
        }
      }
      return { ok: false, errors };
    },
  };
}
