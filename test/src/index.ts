// The channels' doubles (Slack's Web API, …) live beside their channels; tests reach them here too.
export * from "@konstruct/channels/doubles";
export type {
  ClientCertificate,
  ControlPlane,
  ControlPlaneComponent,
  ControlPlaneErrorCode,
  ControlPlaneOptions,
} from "./control-plane.ts";
export {
  ControlPlaneError,
  controlPlaneBinariesBuilt,
  defaultControlPlaneBinDir,
  startControlPlane,
} from "./control-plane.ts";
export type { TestDatabase } from "./database.ts";
export { createTestDatabase, TEST_APP_PASSWORD } from "./database.ts";
export type { OllamaChatLogEntry, OllamaDouble, OllamaDoubleOptions, OllamaFailure } from "./doubles/ollama.ts";
export { ollamaDoubleReply, startOllamaDouble } from "./doubles/ollama.ts";
export { serverUrl } from "./env.ts";
export type { Manifest } from "./kube.ts";
export {
  applyObject,
  applyObjects,
  loadManifests,
  objectClient,
  retryingTooManyRequests,
  serverMessage,
  waitForEstablished,
} from "./kube.ts";
export type { SeedAgent, SeededTenant, ServiceProcess, TestNats } from "./pipeline.ts";
export { freePort, inboundMessage, parseReply, seedTenant, startServiceProcess, startTestNats } from "./pipeline.ts";
export { startReaper } from "./reaper.ts";
