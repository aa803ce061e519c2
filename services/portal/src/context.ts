import type { Database, PortalRole } from "@konstruct/core";
import { portalIdentity } from "@konstruct/operator";
import type { Kysely } from "kysely";
import type { Session } from "./auth/sessions.ts";
import { PortalError } from "./errors.ts";
import { type KubeAccess, KubeError } from "./kube.ts";

/** What a route handler works with: the signed-in person and the portal's connections. */
export interface PortalContext {
  session: Session;
  db: Kysely<Database>;
  kube: KubeAccess;
}

/** Roles allowed to change agents and channels. */
const WRITERS: readonly PortalRole[] = ["owner", "admin"];

/** Throws unless the person's role may change agents and channels (owner, admin). */
export function requireWriter(session: Session): void {
  if (!WRITERS.includes(session.role)) {
    throw new PortalError(
      "forbidden",
      "Your role (member) can read agents and channels but not change them. Ask an owner or admin.",
    );
  }
}

/** Throws unless the person is an owner (people management). */
export function requireOwner(session: Session): void {
  if (session.role !== "owner")
    throw new PortalError("forbidden", "Only owners manage people. Ask an owner of your organisation.");
}

/** The Kubernetes client and the identity to impersonate, or read-only with the reason. */
export function writableCluster(ctx: PortalContext) {
  if (ctx.kube.mode !== "cluster") throw new PortalError("read_only", ctx.kube.reason);
  return { client: ctx.kube.client, user: portalIdentity(ctx.session.tenantName, ctx.session.role) };
}

/** Turns an API server refusal into a refusal a person can act on. */
export function fromKube(error: unknown, what: string): never {
  if (error instanceof KubeError) {
    if (error.status === 404) throw new PortalError("not_found", `${what} does not exist, or it is not yours to see.`);
    // The API server's own words: the request line in `message` means nothing to a person.
    const said = error.statusMessage;
    if (error.status === 403)
      throw new PortalError("forbidden", `The Kubernetes API refused this for your role: ${said}`, { cause: error });
    if (error.status === 409) throw new PortalError("conflict", `${what} changed meanwhile or already exists: ${said}`);
    if (error.status === 400 || error.status === 422) throw new PortalError("invalid", said, { cause: error });
    throw new PortalError(
      "upstream",
      `The Kubernetes API did not accept this (${error.status || "no answer"}). Try again in a moment.`,
      {
        cause: error,
      },
    );
  }
  throw error;
}
