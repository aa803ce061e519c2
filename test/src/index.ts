// The channels' doubles (Slack's Web API, …) live beside their channels; tests reach them here too.
export * from "@konstruct/channels/doubles";
// The local control plane and its client helpers live in @konstruct/control-plane, which
// `npm start` uses too; tests keep importing them from here.
export * from "@konstruct/control-plane";
export type { TestDatabase } from "./database.ts";
export { countHistoryByDay, createTestDatabase, TEST_APP_PASSWORD, TEST_OPERATOR_PASSWORD } from "./database.ts";
export type { OllamaChatLogEntry, OllamaDouble, OllamaDoubleOptions, OllamaFailure } from "./doubles/ollama.ts";
export { ollamaDoubleReply, startOllamaDouble } from "./doubles/ollama.ts";
export { serverUrl } from "./env.ts";
export type { SeedAgent, SeedConnection, SeededTenant, ServiceProcess, TestNats, TestNatsOptions } from "./pipeline.ts";
export { freePort, inboundMessage, parseReply, seedTenant, startServiceProcess, startTestNats } from "./pipeline.ts";
export { processCpuSeconds } from "./process-stats.ts";
export { dropTenantKeys } from "./redis-keys.ts";
export type { SseEvent } from "./sse.ts";
export { sseReader } from "./sse.ts";
export type { TcpProxy } from "./tcp-proxy.ts";
export { startTcpProxy } from "./tcp-proxy.ts";
