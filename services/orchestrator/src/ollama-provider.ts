import { LlmError, statusFailure } from "./llm-error.ts";
import type { ChatRequest, ChatResult, LlmProvider } from "./llm-provider.ts";
import { createModelHttp, type ModelHttp } from "./model-http.ts";

interface OllamaChatResponse {
  model: string;
  message: { role?: string; content?: string };
  done: boolean;
  prompt_eval_count: number;
  eval_count: number;
  error: string;
}

/**
 * Ollama's `/api/chat`, non-streaming: the orchestrator posts whole replies, so streaming
 * would only add parsing. Ollama reports errors as `{"error": "…"}` with a status: 404 for a
 * model it does not have, 400 for a bad request, 500 when the runner fails. Calls share
 * `http`'s kept-alive connections (one client per provider by default).
 */
export function createOllamaProvider(baseUrl: string, http: ModelHttp = createModelHttp()): LlmProvider {
  const url = new URL("api/chat", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).toString();
  return {
    name: "ollama",
    endpoint: baseUrl,
    async chat(request: ChatRequest): Promise<ChatResult> {
      const { model } = request;
      const { status, body } = await http.postJson<OllamaChatResponse>(
        url,
        { model, messages: request.messages, stream: false, options: { temperature: request.temperature } },
        { model, timeoutMs: request.timeoutMs },
      );
      if (status < 200 || status >= 300) throw statusFailure(status, model, body.error ?? `HTTP ${status}`);
      const text = body.message?.content?.trim();
      if (!text) throw new LlmError("bad-response", model, "the answer had no message content");
      return {
        text,
        model: body.model ?? model,
        promptTokens: body.prompt_eval_count ?? 0,
        completionTokens: body.eval_count ?? 0,
      };
    },
    close: () => http.close(),
  };
}
