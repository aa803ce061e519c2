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
export type {
  SlackApiCall,
  SlackApiDouble,
  SlackApiFailure,
  SlackApiMessage,
  SlackApiOptions,
  SlackTokenInfo,
} from "./doubles/slack-api.ts";
export { signSlackRequest, startSlackApi } from "./doubles/slack-api.ts";
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
export type { TcpProxy } from "./tcp-proxy.ts";
export { startTcpProxy } from "./tcp-proxy.ts";
