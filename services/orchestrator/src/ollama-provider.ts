import { fetchFailure, LlmError } from "./llm-error.ts";
import type { ChatRequest, ChatResult, LlmProvider } from "./llm-provider.ts";

interface OllamaChatResponse {
  model?: string;
  message?: { role?: string; content?: string };
  done?: boolean;
  prompt_eval_count?: number;
  eval_count?: number;
  error?: string;
}

/**
 * Ollama's `/api/chat`, non-streaming: the orchestrator posts whole replies, so streaming
 * would only add parsing. Ollama reports errors as `{"error": "…"}` with a status: 404 for a
 * model it does not have, 400 for a bad request, 500 when the runner fails.
 */
export function createOllamaProvider(baseUrl: string): LlmProvider {
  const url = new URL("api/chat", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).toString();
  return {
    name: "ollama",
    endpoint: baseUrl,
    async chat(request: ChatRequest): Promise<ChatResult> {
      const { model } = request;
      let response: Response;
      let body: OllamaChatResponse;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model,
            messages: request.messages,
            stream: false,
            options: { temperature: request.temperature },
          }),
          signal: AbortSignal.timeout(request.timeoutMs),
        });
        body = (await response.json().catch(() => ({}))) as OllamaChatResponse;
      } catch (error) {
        throw fetchFailure(model, error);
      }
      if (!response.ok) {
        const detail = body.error ?? `HTTP ${response.status}`;
        if (response.status === 404) throw new LlmError("model-not-found", model, detail);
        if (response.status >= 500 || response.status === 429) throw new LlmError("server", model, detail);
        throw new LlmError("rejected", model, detail);
      }
      const text = body.message?.content?.trim();
      if (!text) throw new LlmError("bad-response", model, "the answer had no message content");
      return {
        text,
        model: body.model ?? model,
        promptTokens: body.prompt_eval_count ?? 0,
        completionTokens: body.eval_count ?? 0,
      };
    },
  };
}
