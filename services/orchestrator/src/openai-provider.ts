import { LlmError, statusFailure } from "./llm-error.ts";
import type { ChatRequest, ChatResult, LlmProvider } from "./llm-provider.ts";
import { createModelHttp, type ModelHttp } from "./model-http.ts";

interface OpenAiResponse {
  model: string;
  choices: { message?: { content?: string | null } }[];
  usage: { prompt_tokens?: number; completion_tokens?: number };
  error: { message?: string };
}

/** An OpenAI-compatible `/chat/completions` endpoint (vLLM, LiteLLM, OpenAI itself), over kept-alive connections. */
export function createOpenAiProvider(
  baseUrl: string,
  apiKey: string | undefined,
  http: ModelHttp = createModelHttp(),
): LlmProvider {
  const url = new URL("chat/completions", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).toString();
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return {
    name: "openai",
    endpoint: baseUrl,
    async chat(request: ChatRequest): Promise<ChatResult> {
      const { model } = request;
      const { status, body } = await http.postJson<OpenAiResponse>(
        url,
        { model, messages: request.messages, temperature: request.temperature, stream: false },
        { model, timeoutMs: request.timeoutMs, headers },
      );
      if (status < 200 || status >= 300) throw statusFailure(status, model, body.error?.message ?? `HTTP ${status}`);
      const text = body.choices?.[0]?.message?.content?.trim();
      if (!text) throw new LlmError("bad-response", model, "the answer had no message content");
      return {
        text,
        model: body.model ?? model,
        promptTokens: body.usage?.prompt_tokens ?? 0,
        completionTokens: body.usage?.completion_tokens ?? 0,
      };
    },
    close: () => http.close(),
  };
}
