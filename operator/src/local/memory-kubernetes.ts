import { readFileSync, writeFileSync } from "node:fs";
import { KubeApiError } from "../errors.ts";
import type { Agent, KubernetesPort, ObjectRef, RbacKind, RbacObject, RoleBindingSubject, Tenant } from "../ports.ts";

/** The objects the in-memory port holds, by kind; finalizer and status writes update them. */
interface StoredObjects {
  Tenant: Tenant;
  Agent: Agent;
}

/** A Tenant or an Agent. */
export type StoredObject = StoredObjects[ObjectRef["kind"]];

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
  /** Roles, ClusterRoles and their bindings, by `kind/namespace/name`. */
  readonly rbac = new Map<string, RbacObject>();
  /** The owner each owned object (Secret, RBAC object) was written with, by its key. */
  readonly owners = new Map<string, ObjectRef>();
  readonly #objects = new Map<string, StoredObject>();
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
  put<K extends ObjectRef["kind"]>(kind: K, object: StoredObjects[K]): void {
    this.#objects.set(`${kind}:${keyOf(object.metadata.namespace, object.metadata.name)}`, object);
  }

  get<K extends ObjectRef["kind"]>(ref: { kind: K; name: string; namespace?: string | undefined }): StoredObjects[K] | undefined {
    // Keys start with the kind, and put() stores only objects of that kind under it.
    return this.#objects.get(`${ref.kind}:${keyOf(ref.namespace, ref.name)}`) as StoredObjects[K] | undefined;
  }

  async getSecret(namespace: string, name: string) {
    const data = this.secrets.get(keyOf(namespace, name));
    return data ? { ...data } : null;
  }

  async applySecret(
    namespace: string,
    name: string,
    data: Record<string, string>,
    _labels: Record<string, string> = {},
    owner?: ObjectRef,
  ) {
    this.#count("applySecret");
    const key = keyOf(namespace, name);
    if (owner) this.owners.set(`Secret/${key}`, owner);
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

  async createNamespace(name: string, labels: Record<string, string>) {
    if (this.namespaces.has(name)) throw new KubeApiError(409, "AlreadyExists", `namespaces "${name}" already exists`);
    this.#count("createNamespace");
    this.namespaces.set(name, { ...labels });
    this.deletedNamespaces.delete(name);
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

  async getRbac(kind: RbacKind, name: string, namespace?: string) {
    const o = this.rbac.get(`${kind}/${keyOf(namespace, name)}`);
    return o ? structuredClone(o) : null;
  }

  async applyRbac(object: RbacObject, owner?: ObjectRef) {
    this.#count("applyRbac");
    const key = `${object.kind}/${keyOf(object.namespace, object.name)}`;
    this.rbac.set(key, structuredClone(object));
    if (owner) this.owners.set(key, owner);
  }

  async deleteRbac(kind: RbacKind, name: string, namespace?: string) {
    const key = `${kind}/${keyOf(namespace, name)}`;
    if (!this.rbac.has(key)) return;
    this.#count("deleteRbac");
    this.rbac.delete(key);
  }

  async setFinalizers(ref: ObjectRef, finalizers: string[]) {
    this.#count("setFinalizers");
    const object = this.get(ref);
    if (object) object.metadata.finalizers = [...finalizers];
  }

  async patchStatus(ref: ObjectRef, status: Record<string, unknown>) {
    this.#count("patchStatus");
    const object = this.get(ref);
    // The port takes status as JSON; the reconcile functions wrote it from the kind's own status type.
    if (object) object.status = structuredClone(status) as StoredObject["status"];
  }

  async recordEvent(ref: ObjectRef, type: "Normal" | "Warning", reason: string, message: string) {
    this.events.push({ ref, type, reason, message });
  }
}
