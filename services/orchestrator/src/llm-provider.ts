/** One chat message as providers see it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A chat completion request for one model. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  timeoutMs: number;
  /** Called with each piece of the answer as the model writes it (providers stream). */
  onText?: (text: string) => void;
}

/** A model's answer and what it cost. */
export interface ChatResult {
  text: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
}

/** A model server: Ollama, or an OpenAI-compatible endpoint. Throws LlmError. */
export interface LlmProvider {
  readonly name: string;
  /** Where it answers (its base URL): the unit of the pool's cooldowns. */
  readonly endpoint: string;
  chat(request: ChatRequest): Promise<ChatResult>;
  /** Closes its kept-alive connections. */
  close?(): Promise<void>;
}
