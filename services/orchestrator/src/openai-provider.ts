import { createParser, type EventSourceMessage } from "eventsource-parser";
import { LlmError, statusFailure } from "./llm-error.ts";
import type { ChatRequest, ChatResult, LlmProvider } from "./llm-provider.ts";
import { createModelHttp, type ModelHttp } from "./model-http.ts";
import { createStreamedAnswer, parseStreamChunk } from "./streamed-answer.ts";

/** One `chat.completion.chunk` of a streamed answer (or an error a server sends in the stream). */
interface OpenAiChunk {
  model?: string;
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[] | null;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

/** An error body of a request the server refused before streaming. */
interface OpenAiError {
  error: { message?: string };
}

/**
 * An OpenAI-compatible `/chat/completions` endpoint (vLLM, LiteLLM, OpenAI itself), streaming:
 * server-sent events whose `data:` is a `chat.completion.chunk` with the next piece in
 * `choices[0].delta.content`, then `data: [DONE]`. `stream_options.include_usage` asks for one
 * more chunk before `[DONE]`, with empty choices and the token counts. Events are parsed with
 * eventsource-parser (the SSE framing: multi-line data, comments, CRLF). Over kept-alive connections.
 */
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
      const answer = createStreamedAnswer(model, request.onText);
      let answeredBy = model;
      let usage: OpenAiChunk["usage"] = null;
      let finished = false;
      let ended = false;
      const parser = createParser({
        onEvent(event: EventSourceMessage) {
          if (ended) return;
          if (event.data === "[DONE]") {
            ended = true;
            return;
          }
          const chunk = parseStreamChunk<OpenAiChunk>(event.data, model, "event");
          if (chunk.error) throw new LlmError("server", model, chunk.error.message ?? "the server failed mid-answer");
          if (chunk.model) answeredBy = chunk.model;
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices?.[0];
          answer.add(choice?.delta?.content ?? "");
          if (choice?.finish_reason) finished = true;
        },
      });
      const response = await http.postStream<OpenAiError>(
        url,
        {
          model,
          messages: request.messages,
          temperature: request.temperature,
          stream: true,
          stream_options: { include_usage: true },
        },
        { model, timeoutMs: request.timeoutMs, headers },
        (text) => parser.feed(text),
      );
      if (!response.streamed) {
        throw statusFailure(response.status, model, response.body.error?.message ?? `HTTP ${response.status}`);
      }
      // A server that omits `[DONE]` but said why the answer finished has still answered whole.
      if (!ended && !finished) throw new LlmError("bad-response", model, "the answer ended before `data: [DONE]`");
      const counts = usage as OpenAiChunk["usage"];
      return answer.result(answeredBy, counts?.prompt_tokens ?? 0, counts?.completion_tokens ?? 0);
    },
    close: () => http.close(),
  };
}
