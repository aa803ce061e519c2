import { fetchFailure, LlmError } from "./llm-error.ts";
import type { ChatRequest, ChatResult, LlmProvider } from "./llm-provider.ts";

interface OpenAiResponse {
  model?: string;
  choices?: { message?: { content?: string | null } }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  error?: { message?: string };
}

/** An OpenAI-compatible `/chat/completions` endpoint (vLLM, LiteLLM, OpenAI itself). */
export function createOpenAiProvider(baseUrl: string, apiKey: string | undefined): LlmProvider {
  const url = new URL("chat/completions", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).toString();
  return {
    name: "openai",
    endpoint: baseUrl,
    async chat(request: ChatRequest): Promise<ChatResult> {
      const { model } = request;
      let response: Response;
      let body: OpenAiResponse;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
          },
          body: JSON.stringify({ model, messages: request.messages, temperature: request.temperature, stream: false }),
          signal: AbortSignal.timeout(request.timeoutMs),
        });
        body = (await response.json().catch(() => ({}))) as OpenAiResponse;
      } catch (error) {
        throw fetchFailure(model, error);
      }
      if (!response.ok) {
        const detail = body.error?.message ?? `HTTP ${response.status}`;
        if (response.status === 404) throw new LlmError("model-not-found", model, detail);
        if (response.status >= 500 || response.status === 429) throw new LlmError("server", model, detail);
        throw new LlmError("rejected", model, detail);
      }
      const text = body.choices?.[0]?.message?.content?.trim();
      if (!text) throw new LlmError("bad-response", model, "the answer had no message content");
      return {
        text,
        model: body.model ?? model,
        promptTokens: body.usage?.prompt_tokens ?? 0,
        completionTokens: body.usage?.completion_tokens ?? 0,
      };
    },
  };
}
