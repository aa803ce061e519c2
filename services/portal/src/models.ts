/** The models a language model server lists, cached briefly; empty when it does not answer. */
export interface ModelCatalog {
  list(): Promise<string[]>;
}

/** Reads Ollama's `/api/tags` (at most every 30 s, 2 s timeout); an unreachable server lists nothing. */
export function ollamaModels(ollamaUrl: string, fetchImpl: typeof fetch = fetch): ModelCatalog {
  let cached: { at: number; models: string[] } | undefined;
  return {
    async list() {
      if (cached !== undefined && Date.now() - cached.at < 30_000) return cached.models;
      let models: string[] = [];
      try {
        const response = await fetchImpl(new URL("/api/tags", ollamaUrl), { signal: AbortSignal.timeout(2_000) });
        if (response.ok) {
          const body = (await response.json()) as { models?: { name?: unknown }[] };
          models = (body.models ?? []).flatMap((m) => (typeof m.name === "string" ? [m.name] : [])).sort();
        }
      } catch {
        // Unreachable: the form says so and lets the person type a name.
      }
      cached = { at: Date.now(), models };
      return models;
    },
  };
}
