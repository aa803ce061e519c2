import type { SecretKey } from "@konstruct/core/crypto";
import type { Database } from "@konstruct/core/db/types";
import type { Logger } from "@konstruct/core/logger";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { createAgentStore } from "../adapters/agent-store.ts";
import { createChannelStore } from "../adapters/channel-store.ts";
import { createOwnerInvitations } from "../adapters/owner-invitations.ts";
import { createPostgresRoles } from "../adapters/postgres-roles.ts";
import { createRedisAcl } from "../adapters/redis-acl.ts";
import { createTenantOwners } from "../adapters/tenant-owners.ts";
import { createTenantRows } from "../adapters/tenant-rows.ts";
import type { AgentDeps } from "../agent/agent-context.ts";
import { reconcileAgent } from "../agent/agent-controller.ts";
import type { Agent } from "../api/agent.ts";
import { DEFAULT_PORTAL_PUBLIC_URL, DEFAULT_PORTAL_SERVICE_ACCOUNT } from "../api/portal.ts";
import { GROUP, type Tenant, VERSION } from "../api/tenant.ts";
import { type HistoryPurger, startHistoryPurge } from "../history/history-purge.ts";
import type { KubeClient } from "../kube/kube-client.ts";
import { createKubernetesPort } from "../kube/kubernetes-port.ts";
import { WatchCache, withWatchCache } from "../kube/watch-cache.ts";
import type { ReconcileResult, TenantDirectory } from "../ports.ts";
import { claimsRefused } from "../tenant/tenant-claims.ts";
import {
  type ChannelServices,
  type PortalSettings,
  type TenantDeps,
  type TenantEndpoints,
  tenantNames,
} from "../tenant/tenant-context.ts";
import { reconcileTenant } from "../tenant/tenant-controller.ts";
import type { BackoffOptions } from "./backoff.ts";
import { type HealthServer, startHealthServer } from "./health-server.ts";
import { Informer, type KubeObject, keyOf } from "./informer.ts";
import { LeaderElector } from "./leader-election.ts";
import { createMetrics, type OperatorMetrics } from "./metrics.ts";
import { NOT_READY_BACKOFF, WorkQueue } from "./work-queue.ts";

export interface OperatorOptions {
  client: KubeClient;
  db: Kysely<Database>;
  redis: Redis;
  secretKey: SecretKey;
  endpoints: TenantEndpoints;
  /** Where channels register their webhooks; absent: nowhere. */
  channelServices?: ChannelServices;
  log: Logger;
  /** The namespace the operator is installed in: never a tenant's. */
  installNamespace: string;
  /** Default: DEFAULT_PORTAL_PUBLIC_URL, and the ServiceAccount konstruct-portal of installNamespace. */
  portal?: PortalSettings;
  identity: string;
  resyncIntervalMs: number;
  /** How often the leader purges conversation history past each tenant's retention (and once on taking the lead). */
  historyPurgeIntervalMs?: number;
  /** Retry backoff after a not-ready result: NOT_READY_BACKOFF, its cap lowered to the resync interval. */
  notReadyBackoff?: BackoffOptions;
  watchdogMs: number;
  concurrency: number;
  /** Health and metrics listener; port 0 picks a free one. */
  health: { host: string; port: number };
  /** Leader election; null runs as the only replica. */
  leaderElection: { namespace: string; name: string; leaseDurationMs: number } | null;
  metrics?: OperatorMetrics;
}

export interface RunningOperator {
  healthPort: number;
  metrics: OperatorMetrics;
  isLeader(): boolean;
  /** Stops reconciling, releases the lease and closes the listener; the caller closes db and redis. */
  stop(): Promise<void>;
}

const DEFAULT_HISTORY_PURGE_INTERVAL_MS = 3_600_000;

/** The controllers of one leadership term: informers, queues and the resync timer. */
class Controllers {
  readonly tenants: Informer<Tenant>;
  readonly agents: Informer<Agent>;
  readonly tenantQueue: WorkQueue;
  readonly agentQueue: WorkQueue;
  readonly #cache: WatchCache;
  #resync: NodeJS.Timeout | undefined;
  readonly #purger: HistoryPurger;

  constructor(o: OperatorOptions, metrics: OperatorMetrics) {
    const restarts = (resource: string) => (reason: string) => metrics.watchRestarts.inc({ resource, reason });
    this.#cache = new WatchCache(o.client, {
      watchdogMs: o.watchdogMs,
      log: o.log,
      onRestart: (resource, reason) => restarts(resource)(reason),
    });
    const kube = withWatchCache(createKubernetesPort(o.client, { instance: o.identity }), this.#cache);
    const directory: TenantDirectory = {
      // A Tenant refused its namespace (it names one that another Tenant holds) is not its owner.
      byNamespace: (namespace) =>
        this.tenants
          .list()
          .find((t) => t.metadata.deletionTimestamp === undefined && !claimsRefused(t) && safeNamespace(t) === namespace) ?? null,
    };
    const tenantDeps: TenantDeps = {
      kube,
      roles: createPostgresRoles(o.db),
      rows: createTenantRows(o.db),
      acl: createRedisAcl(o.redis),
      channels: createChannelStore(o.db),
      owners: createTenantOwners(o.db),
      invitations: createOwnerInvitations(o.db),
      portal: o.portal ?? {
        publicUrl: DEFAULT_PORTAL_PUBLIC_URL,
        serviceAccount: { namespace: o.installNamespace, name: DEFAULT_PORTAL_SERVICE_ACCOUNT },
      },
      tenants: { list: () => this.tenants.list() },
      installNamespace: o.installNamespace,
      secretKey: o.secretKey,
      endpoints: o.endpoints,
      ...(o.channelServices ? { channelServices: o.channelServices } : {}),
      log: o.log.child({ controller: "tenant" }),
    };
    const agentDeps: AgentDeps = {
      kube,
      agents: createAgentStore(o.db),
      tenants: directory,
      log: o.log.child({ controller: "agent" }),
    };
    const notReadyBackoff = o.notReadyBackoff ?? {
      ...NOT_READY_BACKOFF,
      maxMs: Math.min(NOT_READY_BACKOFF.maxMs, o.resyncIntervalMs),
    };
    const queue = (controller: string, handler: (key: string) => Promise<ReconcileResult | undefined>) =>
      new WorkQueue({
        concurrency: o.concurrency,
        notReadyBackoff,
        handler,
        onError: (key, err, attempt) => {
          metrics.reconcileErrors.inc({ controller });
          o.log.warn({ controller, key, attempt, err }, "reconcile failed; retrying with backoff");
        },
        // The condition and its Warning Event say why; this line says when it is tried again.
        onRequeue: (key, attempt, retryInMs) =>
          o.log.debug({ controller, key, attempt, retryInMs }, "not ready; retrying with backoff"),
        onDone: (_key, seconds, result) => {
          metrics.reconciles.inc({ controller, result });
          metrics.reconcileSeconds.observe({ controller }, seconds);
        },
      });
    this.tenantQueue = queue("tenant", async (key) => {
      const tenant = this.tenants.get(key);
      return tenant ? reconcileTenant(tenant, tenantDeps) : undefined;
    });
    this.agentQueue = queue("agent", async (key) => {
      const agent = this.agents.get(key);
      return agent ? reconcileAgent(agent, agentDeps) : undefined;
    });
    this.tenants = new Informer<Tenant>(o.client, {
      path: `/apis/${GROUP}/${VERSION}/tenants`,
      resource: "tenants",
      watchdogMs: o.watchdogMs,
      log: o.log,
      onRestart: restarts("tenants"),
      onChange: (key, object, previous) => {
        if (specChanged(object, previous)) this.tenantQueue.renew(key);
        // Agents wait for their Tenant: wake those in its namespace when it changes.
        const namespace = object ? safeNamespace(object) : null;
        if (namespace)
          for (const agent of this.agents.list())
            if (agent.metadata.namespace === namespace) this.agentQueue.add(`${namespace}/${agent.metadata.name}`);
      },
    });
    this.agents = new Informer<Agent>(o.client, {
      path: `/apis/${GROUP}/${VERSION}/agents`,
      resource: "agents",
      watchdogMs: o.watchdogMs,
      log: o.log,
      onRestart: restarts("agents"),
      onChange: (key, object, previous) => {
        if (specChanged(object, previous)) this.agentQueue.renew(key);
        // A deleted agent may have been the default another agent is waiting for.
        if (object === null) {
          const namespace = key.split("/")[0];
          for (const agent of this.agents.list())
            if (agent.metadata.namespace === namespace) this.agentQueue.add(`${namespace}/${agent.metadata.name}`);
        }
      },
    });
    this.#cache.start();
    this.tenants.start();
    this.agents.start();
    // The periodic resync re-checks every object for drift (a dropped role, an ACL user lost
    // in a Redis restart, a changed credential Secret) even when Kubernetes reports no change.
    // Objects backing off after a not-ready result are left to their backoff.
    this.#resync = setInterval(() => {
      for (const t of this.tenants.list()) this.tenantQueue.resync(keyOf(t));
      for (const a of this.agents.list()) this.agentQueue.resync(keyOf(a));
    }, o.resyncIntervalMs);
    this.#resync.unref();
    // Only the leader purges, so replicas never delete the same rows twice over.
    this.#purger = startHistoryPurge({
      db: o.db,
      log: o.log.child({ task: "history-purge" }),
      intervalMs: o.historyPurgeIntervalMs ?? DEFAULT_HISTORY_PURGE_INTERVAL_MS,
      onPurged: (result) => {
        metrics.historyPurged.inc({ kind: "messages" }, result.messages);
        metrics.historyPurged.inc({ kind: "conversations" }, result.conversations);
      },
    });
  }

  get synced(): boolean {
    return this.tenants.synced && this.agents.synced;
  }

  async stop(): Promise<void> {
    clearInterval(this.#resync);
    await Promise.all([this.tenants.stop(), this.agents.stop(), this.#cache.stop(), this.#purger.stop()]);
    await Promise.all([this.tenantQueue.shutdown(), this.agentQueue.shutdown()]);
  }
}

/**
 * Whether a watch event asks for a reconcile. Status-only updates (our own writes) do not:
 * they would double the API calls of every first reconcile for nothing, and the periodic
 * resync re-checks everything anyway (controller-runtime's GenerationChangedPredicate).
 */
function specChanged(object: KubeObject | null, previous: KubeObject | undefined): boolean {
  if (object === null || previous === undefined) return true;
  const now = object.metadata;
  const before = previous.metadata;
  return now.generation !== before.generation || now.deletionTimestamp !== before.deletionTimestamp;
}

function safeNamespace(tenant: Tenant): string | null {
  try {
    return tenantNames(tenant).namespace;
  } catch {
    return null;
  }
}

/** Starts the operator: health server at once, controllers while leading. */
export async function startOperator(o: OperatorOptions): Promise<RunningOperator> {
  const metrics = o.metrics ?? createMetrics();
  let controllers: Controllers | null = null;
  let stopping: Promise<void> | null = null;
  let live = true;
  const depth = setInterval(() => {
    metrics.queueDepth.set({ controller: "tenant" }, controllers?.tenantQueue.depth ?? 0);
    metrics.queueDepth.set({ controller: "agent" }, controllers?.agentQueue.depth ?? 0);
    metrics.backingOff.set({ controller: "tenant" }, controllers?.tenantQueue.backingOff ?? 0);
    metrics.backingOff.set({ controller: "agent" }, controllers?.agentQueue.backingOff ?? 0);
  }, 1000);
  depth.unref();

  // Leadership changes are serialized: a new term starts only after the last one's
  // reconciles have finished, so one process never runs two sets of controllers.
  let transition: Promise<void> = Promise.resolve();
  const lead = () => {
    transition = transition.then(() => {
      metrics.leader.set(1);
      controllers = new Controllers(o, metrics);
    });
  };
  const follow = (): Promise<void> => {
    transition = transition.then(async () => {
      metrics.leader.set(0);
      const c = controllers;
      controllers = null;
      await c?.stop();
    });
    return transition;
  };

  const elector = o.leaderElection
    ? new LeaderElector(o.client, {
        ...o.leaderElection,
        identity: o.identity,
        renewDeadlineMs: (o.leaderElection.leaseDurationMs * 2) / 3,
        retryPeriodMs: o.leaderElection.leaseDurationMs / 6,
        log: o.log,
        onStartedLeading: lead,
        onStoppedLeading: () => void follow(),
      })
    : null;

  const health: HealthServer = await startHealthServer({
    ...o.health,
    registry: metrics.registry,
    live: () => live,
    ready: () => {
      if (controllers === null) return { ok: elector !== null, detail: "standing by for the leader lease" };
      return controllers.synced
        ? { ok: true, detail: "leading; caches synced" }
        : { ok: false, detail: "leading; caches syncing" };
    },
  });

  if (elector) elector.start();
  else lead();

  return {
    healthPort: health.port,
    metrics,
    isLeader: () => controllers !== null,
    stop() {
      stopping ??= (async () => {
        live = false;
        clearInterval(depth);
        // Finish in-flight reconciles before handing the lease over, so the next leader never overlaps with us.
        await follow();
        await elector?.stop();
        await health.close();
      })();
      return stopping;
    },
  };
}
