import { LlmError } from "./llm-error.ts";
import type { ChatResult } from "./llm-provider.ts";

/** A model's answer as it streams in: the text so far, passed on delta by delta. */
export interface StreamedAnswer {
  /** Adds a piece of the answer and hands it to the listener. */
  add(text: string): void;
  /** The whole answer, trimmed; an empty one is a bad response. */
  result(model: string, promptTokens: number, completionTokens: number): ChatResult;
}

/**
 * Collects streamed pieces into the answer. Pieces are kept in an array and joined once: a long
 * answer arrives as hundreds of pieces, and repeated concatenation would copy it each time.
 */
export function createStreamedAnswer(requestedModel: string, onText?: (text: string) => void): StreamedAnswer {
  const pieces: string[] = [];
  return {
    add(text) {
      if (text.length === 0) return;
      pieces.push(text);
      onText?.(text);
    },
    result(model, promptTokens, completionTokens) {
      const text = pieces.join("").trim();
      if (!text) throw new LlmError("bad-response", requestedModel, "the answer had no message content");
      return { text, model, promptTokens, completionTokens };
    },
  };
}

/**
 * Splits a body that arrives in arbitrary chunks into lines (NDJSON: one JSON value a line,
 * `\n`-separated, `\r\n` tolerated), calling `onLine` for each non-empty one. A split this
 * small needs no library; `end()` hands over a last line without its newline.
 */
export function createLineSplitter(onLine: (line: string) => void): { push(text: string): void; end(): void } {
  let buffer = "";
  const emit = (line: string) => {
    const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (trimmed.trim().length > 0) onLine(trimmed);
  };
  return {
    push(text) {
      buffer += text;
      let start = 0;
      let end = buffer.indexOf("\n", start);
      while (end >= 0) {
        emit(buffer.slice(start, end));
        start = end + 1;
        end = buffer.indexOf("\n", start);
      }
      buffer = start === 0 ? buffer : buffer.slice(start);
    },
    end() {
      const rest = buffer;
      buffer = "";
      emit(rest);
    },
  };
}

/**
 * One piece of a streamed answer parsed as a JSON object (`what` names it in the error: an NDJSON
 * line, an SSE event); anything else is a bad response of `model`.
 */
export function parseStreamChunk<T>(text: string, model: string, what: "line" | "event"): T {
  const piece = what === "line" ? "a line" : "an event";
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new LlmError("bad-response", model, `${piece} of the answer is not JSON (${text.slice(0, 80)})`, { cause });
  }
  if (!value || typeof value !== "object") throw new LlmError("bad-response", model, `${piece} of the answer is not an object`);
  return value as T;
}
