import { LlmError, statusFailure } from "./llm-error.ts";
import type { ChatRequest, ChatResult, LlmProvider } from "./llm-provider.ts";
import { createModelHttp, type ModelHttp } from "./model-http.ts";
import { createLineSplitter, createStreamedAnswer, parseStreamChunk } from "./streamed-answer.ts";

/** One line of Ollama's streamed `/api/chat` answer; the last (`done: true`) carries the counts. */
interface OllamaChatChunk {
  model?: string;
  message?: { role?: string; content?: string };
  done?: boolean;
  prompt_eval_count?: number;
  eval_count?: number;
  error?: string;
}

/**
 * Ollama's `/api/chat`, streaming when the request has `onText`: the answer comes as NDJSON, one
 * chunk of the message a line, and the last line (`done: true`) carries the token counts; without
 * `onText` it comes whole, as that last line alone. Each piece goes to the request's
 * `onText` as it arrives. Ollama reports errors as `{"error": "…"}` — with a status (404 for a
 * model it does not have, 400 for a bad request, 500 when the runner fails) before the stream
 * starts, or as a line of the stream when the runner fails mid-answer. Calls share `http`'s
 * kept-alive connections (one client per provider by default).
 */
export function createOllamaProvider(baseUrl: string, http: ModelHttp = createModelHttp()): LlmProvider {
  const url = new URL("api/chat", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).toString();
  return {
    name: "ollama",
    endpoint: baseUrl,
    async chat(request: ChatRequest): Promise<ChatResult> {
      const { model } = request;
      const answer = createStreamedAnswer(model, request.onText);
      let last: OllamaChatChunk | null = null;
      const lines = createLineSplitter((line) => {
        if (last) throw new LlmError("bad-response", model, "the answer went on after its last chunk (`done`)");
        const chunk = parseStreamChunk<OllamaChatChunk>(line, model, "line");
        if (chunk.error) throw new LlmError("server", model, chunk.error);
        answer.add(chunk.message?.content ?? "");
        if (chunk.done) last = chunk;
      });
      const response = await http.postStream<OllamaChatChunk>(
        url,
        // Streamed only when someone reads the pieces (the web chat): a whole answer is one JSON
        // object — the same shape as the last chunk — and parses at a fraction of the CPU of
        // one line a token.
        {
          model,
          messages: request.messages,
          stream: request.onText !== undefined,
          options: { temperature: request.temperature },
        },
        { model, timeoutMs: request.timeoutMs },
        lines.push,
      );
      if (!response.streamed) {
        throw statusFailure(response.status, model, response.body.error ?? `HTTP ${response.status}`);
      }
      lines.end();
      const done = last as OllamaChatChunk | null;
      if (!done) throw new LlmError("bad-response", model, "the answer ended before its last chunk (`done`)");
      return answer.result(done.model ?? model, done.prompt_eval_count ?? 0, done.eval_count ?? 0);
    },
    close: () => http.close(),
  };
}
