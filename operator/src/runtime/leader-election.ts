import type { Logger } from "@konstruct/core/logger";
import { KubeApiError } from "../errors.ts";
import type { KubeClient } from "../kube/kube-client.ts";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** A leader that could not renew for this long steps down (< leaseDurationMs). */
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** RFC 3339 with microseconds, the MicroTime format Lease times must have. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: every write is a
 * PUT guarded by resourceVersion, so two candidates cannot both win; expiry is judged by when
 * *this* process last saw the lease change (not by the holder's clock), so clock skew between
 * nodes cannot hand the lease to two holders.
 */
export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  readonly #client: KubeClient;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #observed: { holder: string; renewTime: string; at: number } | undefined;
  #lastRenew = 0;
  #tick: Promise<void> = Promise.resolve();

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.#client = client;
    this.#options = options;
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      this.#tick = this.#attempt().finally(() => {
        if (!this.#stopped)
          this.#timer = setTimeout(loop, this.#options.retryPeriodMs * (this.#leading ? 1 : 0.8 + Math.random() * 0.4));
      });
    };
    loop();
  }

  get #path(): string {
    const { namespace, name } = this.#options;
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;
  }

  #spec(previous: Lease["spec"] | undefined, now: Date): Lease["spec"] {
    const taking = previous?.holderIdentity !== this.#options.identity;
    return {
      holderIdentity: this.#options.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.#options.leaseDurationMs / 1000)),
      acquireTime: taking ? microTime(now) : (previous?.acquireTime ?? microTime(now)),
      renewTime: microTime(now),
      leaseTransitions: (previous?.leaseTransitions ?? 0) + (taking && previous?.holderIdentity ? 1 : 0),
    };
  }

  async #attempt(): Promise<void> {
    const now = new Date();
    try {
      const lease = await this.#get();
      if (lease === null) {
        const { namespace, name } = this.#options;
        await this.#client.request("POST", `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`, {
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace },
            spec: this.#spec(undefined, now),
          },
        });
        return this.#renewed();
      }
      const holder = lease.spec.holderIdentity ?? "";
      const renewTime = lease.spec.renewTime ?? "";
      if (this.#observed?.holder !== holder || this.#observed.renewTime !== renewTime) {
        this.#observed = { holder, renewTime, at: Date.now() };
      }
      const duration = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
      const expired = holder === "" || Date.now() - this.#observed.at > duration;
      if (holder !== this.#options.identity && !expired) return this.#notRenewed();
      await this.#client.request("PUT", this.#path, { body: { ...lease, spec: this.#spec(lease.spec, now) } });
      this.#renewed();
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409)) {
        this.#options.log.warn({ err: error, lease: this.#options.name }, "could not read or renew the leader lease");
      }
      this.#notRenewed();
    }
  }

  async #get(): Promise<Lease | null> {
    try {
      return await this.#client.request<Lease>("GET", this.#path);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return null;
      throw error;
    }
  }

  #renewed(): void {
    this.#lastRenew = Date.now();
    if (!this.#leading && !this.#stopped) {
      this.#leading = true;
      this.#options.log.info({ identity: this.#options.identity }, "became leader");
      this.#options.onStartedLeading();
    }
  }

  #notRenewed(): void {
    if (this.#leading && Date.now() - this.#lastRenew > this.#options.renewDeadlineMs) {
      this.#leading = false;
      this.#options.log.warn({ identity: this.#options.identity }, "lost the leader lease; stopping controllers");
      this.#options.onStoppedLeading();
    }
  }

  /** Stops campaigning and, if leading, releases the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#get();
      if (lease?.spec.holderIdentity === this.#options.identity) {
        await this.#client.request("PUT", this.#path, {
          body: {
            ...lease,
            spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()) },
          },
        });
      }
    } catch (error) {
      this.#options.log.warn({ err: error }, "could not release the leader lease; a standby takes over when it expires");
    }
  }
}
