// The operator's runtime, for main.ts, the integration tests and the benchmark. Importing it
// loads the Kubernetes, PostgreSQL and Redis clients, so the light API surface stays in ../index.ts.

export { createOwnerInvitations } from "../adapters/owner-invitations.ts";
export { createPostgresRoles } from "../adapters/postgres-roles.ts";
export type { OperatorConfig } from "../config.ts";
export { loadConfig } from "../config.ts";
export type { HistoryPurger, PurgeOptions, PurgeResult } from "../history/history-purge.ts";
export { PURGE_BATCH_SIZE, purgeHistory, startHistoryPurge } from "../history/history-purge.ts";
export type { WatchEvent } from "../kube/kube-client.ts";
export { KubeClient } from "../kube/kube-client.ts";
export { FIELD_MANAGER } from "../kube/kubernetes-port.ts";
export type { PortalSettings, TenantEndpoints } from "../tenant/tenant-context.ts";
export { DATABASE_SECRET, REDIS_SECRET, TENANT_FINALIZER } from "../tenant/tenant-context.ts";
export { TENANT_COMMAND_RULES } from "../tenant/tenant-redis.ts";
export type { OperatorMetrics } from "./metrics.ts";
export { createMetrics } from "./metrics.ts";
export type { OperatorOptions, RunningOperator } from "./operator.ts";
export { startOperator } from "./operator.ts";
