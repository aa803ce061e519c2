import { fields } from "@konstruct/core";
import { print } from "./output.ts";

/** The language model the agents reach, if any. */
export interface Model {
  ollamaUrl: string;
  reachable: boolean;
}

/** Looks for Ollama and says what the agents will do either way. */
export async function findModel(ollamaUrl: string = fields.OLLAMA_URL.default as string): Promise<Model> {
  const reachable = await fetch(new URL("/api/tags", ollamaUrl), { signal: AbortSignal.timeout(2_000) })
    .then((r) => r.ok)
    .catch(() => false);
  print(
    reachable
      ? `Ollama answers at ${ollamaUrl}; agents use the models their Agent resources name (pull them with \`ollama pull\`).`
      : `No model is reachable: Ollama does not answer at ${ollamaUrl} (set OLLAMA_URL).\n` +
          "Agents will reply honestly that no language model is reachable; they never pretend to be one.",
  );
  return { ollamaUrl, reachable };
}
