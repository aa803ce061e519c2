import { readFileSync, writeFileSync } from "node:fs";
import type { KubernetesPort, ObjectRef, RoleBindingSubject } from "../ports.ts";

/** An object the in-memory port holds (Tenant or Agent), updated by finalizer and status writes. */
export interface StoredObject {
  metadata: { name: string; namespace?: string; finalizers?: string[]; [k: string]: unknown };
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface RecordedEvent {
  ref: ObjectRef;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ""}/${name}`;

/**
 * A KubernetesPort without Kubernetes: namespaces, RoleBindings, Secrets and the status of
 * Tenants and Agents live in memory; Secrets the operator writes (the tenants' database and
 * Redis logins) can be kept in a JSON file so a later run reuses their passwords. The local
 * driver (npm start without a cluster) and unit tests use it.
 */
export class MemoryKubernetes implements KubernetesPort {
  readonly secrets = new Map<string, Record<string, string>>();
  readonly namespaces = new Map<string, Record<string, string>>();
  readonly deletedNamespaces = new Set<string>();
  readonly roleBindings = new Map<string, RoleBindingSubject[]>();
  readonly objects = new Map<string, StoredObject>();
  readonly events: RecordedEvent[] = [];
  /** Write calls made, by method; a no-op reconcile makes none. */
  readonly writes = new Map<string, number>();
  readonly #stateFile: string | undefined;
  readonly #owned = new Set<string>();

  constructor(options: { stateFile?: string } = {}) {
    this.#stateFile = options.stateFile;
    if (this.#stateFile) {
      try {
        const saved = JSON.parse(readFileSync(this.#stateFile, "utf8")) as Record<string, Record<string, string>>;
        for (const [key, data] of Object.entries(saved)) {
          this.secrets.set(key, data);
          this.#owned.add(key);
        }
      } catch {
        // no state yet
      }
    }
  }

  #count(method: string): void {
    this.writes.set(method, (this.writes.get(method) ?? 0) + 1);
  }

  /** Adds an object (a Tenant, an Agent) under its kind. */
  put(kind: ObjectRef["kind"], object: StoredObject): void {
    this.objects.set(`${kind}:${keyOf(object.metadata.namespace, object.metadata.name)}`, object);
  }

  get(ref: Pick<ObjectRef, "kind" | "name" | "namespace">): StoredObject | undefined {
    return this.objects.get(`${ref.kind}:${keyOf(ref.namespace, ref.name)}`);
  }

  async getSecret(namespace: string, name: string) {
    const data = this.secrets.get(keyOf(namespace, name));
    return data ? { ...data } : null;
  }

  async applySecret(namespace: string, name: string, data: Record<string, string>) {
    this.#count("applySecret");
    const key = keyOf(namespace, name);
    this.secrets.set(key, { ...data });
    this.#owned.add(key);
    if (this.#stateFile) {
      const owned = Object.fromEntries([...this.#owned].map((k) => [k, this.secrets.get(k)]));
      writeFileSync(this.#stateFile, `${JSON.stringify(owned, null, 2)}\n`, { mode: 0o600 });
    }
  }

  async getNamespaceLabels(name: string) {
    return this.namespaces.get(name) ?? null;
  }

  async applyNamespace(name: string, labels: Record<string, string>) {
    this.#count("applyNamespace");
    this.namespaces.set(name, { ...labels });
    this.deletedNamespaces.delete(name);
  }

  async deleteNamespace(name: string) {
    this.#count("deleteNamespace");
    this.namespaces.delete(name);
    this.deletedNamespaces.add(name);
    for (const key of [...this.secrets.keys()]) if (key.startsWith(`${name}/`)) this.secrets.delete(key);
  }

  async getRoleBindingSubjects(namespace: string, name: string) {
    return this.roleBindings.get(keyOf(namespace, name)) ?? null;
  }

  async applyRoleBinding(namespace: string, name: string, _clusterRole: string, subjects: RoleBindingSubject[]) {
    this.#count("applyRoleBinding");
    this.roleBindings.set(keyOf(namespace, name), subjects);
  }

  async deleteRoleBinding(namespace: string, name: string) {
    this.#count("deleteRoleBinding");
    this.roleBindings.delete(keyOf(namespace, name));
  }

  async setFinalizers(ref: ObjectRef, finalizers: string[]) {
    this.#count("setFinalizers");
    const object = this.get(ref);
    if (object) object.metadata.finalizers = [...finalizers];
  }

  async patchStatus(ref: ObjectRef, status: Record<string, unknown>) {
    this.#count("patchStatus");
    const object = this.get(ref);
    if (object) object.status = structuredClone(status);
  }

  async recordEvent(ref: ObjectRef, type: "Normal" | "Warning", reason: string, message: string) {
    this.events.push({ ref, type, reason, message });
  }
}
