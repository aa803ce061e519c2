import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** The orchestrator's Prometheus metrics, on a registry of its own. */
export interface OrchestratorMetrics {
  registry: Registry;
  /** Replies by kind: answer, notice, apology. */
  replies: Counter<"kind">;
  /** Model calls that failed, by failure (`unreachable`, `timeout`, …). */
  llmErrors: Counter<"failure">;
  /** Runs where every model failed and the user got an apology. */
  llmExhausted: Counter;
  /** Answers that came from a fallback model. */
  fallbacks: Counter;
  tokens: Counter<"type">;
  /** Messages (inbound and replies) written to the conversation history; repeats insert nothing. */
  historyMessages: Counter;
  outcomes: Counter<"outcome">;
  runSeconds: Histogram;
  llmSeconds: Histogram;
}

/** Creates the orchestrator's metrics; `defaults` adds the process metrics. */
export function createOrchestratorMetrics(options: { defaults?: boolean } = {}): OrchestratorMetrics {
  const registry = new Registry();
  if (options.defaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    replies: new Counter({
      name: "konstruct_orchestrator_replies_total",
      help: "Replies by kind",
      labelNames: ["kind"],
      registers,
    }),
    llmErrors: new Counter({
      name: "konstruct_llm_errors_total",
      help: "Failed model calls by failure",
      labelNames: ["failure"],
      registers,
    }),
    llmExhausted: new Counter({
      name: "konstruct_llm_exhausted_total",
      help: "Runs where the model and every fallback failed",
      registers,
    }),
    fallbacks: new Counter({ name: "konstruct_llm_fallback_answers_total", help: "Answers from a fallback model", registers }),
    tokens: new Counter({ name: "konstruct_llm_tokens_total", help: "Tokens used", labelNames: ["type"], registers }),
    historyMessages: new Counter({
      name: "konstruct_history_messages_total",
      help: "Messages written to the conversation history",
      registers,
    }),
    outcomes: new Counter({
      name: "konstruct_orchestrator_outcomes_total",
      help: "Consumer outcomes: ack, retry or poison",
      labelNames: ["outcome"],
      registers,
    }),
    runSeconds: new Histogram({
      name: "konstruct_orchestrator_run_seconds",
      help: "Time to handle one work item",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 15, 60],
      registers,
    }),
    llmSeconds: new Histogram({
      name: "konstruct_llm_call_seconds",
      help: "Time spent in the model chain of one run",
      buckets: [0.005, 0.05, 0.25, 1, 2.5, 5, 15, 30, 60, 120],
      registers,
    }),
  };
}
