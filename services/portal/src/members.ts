import { type Database, isUuid, PORTAL_ROLES, type PortalRole, withTenant } from "@konstruct/core";
import type { Kysely, Transaction } from "kysely";
import { createInvitation } from "./auth/invitations.ts";
import type { Session } from "./auth/sessions.ts";
import { normalizeEmail } from "./auth/throttle.ts";
import { requireOwner } from "./context.ts";
import { notFound, PortalError } from "./errors.ts";

export interface MemberView {
  id: string;
  email: string;
  displayName: string;
  role: PortalRole;
  createdAt: Date;
}

export interface InvitationView {
  id: string;
  email: string;
  role: PortalRole;
  expiresAt: Date;
  invitedBy: string | null;
}

const EMAIL = /^[^@\s]+@[^@\s]+$/;

/** The tenant's people and open invitations. Owners only. */
export async function listMembers(
  db: Kysely<Database>,
  session: Session,
): Promise<{ members: MemberView[]; invitations: InvitationView[] }> {
  requireOwner(session);
  return withTenant(db, session.tenantId, async (trx) => {
    const members = await trx
      .selectFrom("portal_users")
      .select(["id", "email", "display_name", "role", "created_at"])
      .orderBy("email")
      .execute();
    const invitations = await trx
      .selectFrom("portal_invitations")
      .select(["id", "email", "role", "expires_at", "invited_by"])
      .where("accepted_at", "is", null)
      .where("expires_at", ">", new Date())
      .orderBy("created_at", "desc")
      .execute();
    return {
      members: members.map((m) => ({
        id: m.id,
        email: m.email,
        displayName: m.display_name,
        role: m.role,
        createdAt: m.created_at,
      })),
      invitations: invitations.map((i) => ({
        id: i.id,
        email: i.email,
        role: i.role,
        expiresAt: i.expires_at,
        invitedBy: i.invited_by,
      })),
    };
  });
}

/** Parses a role; invalid otherwise. */
export function parseRole(value: unknown): PortalRole {
  if (typeof value === "string" && (PORTAL_ROLES as readonly string[]).includes(value)) return value as PortalRole;
  throw new PortalError("invalid", "Check the highlighted fields.", { fields: { role: "Choose owner, admin or member." } });
}

/** Invites a person by a one-time link; returns the token (shown once, never stored). */
export async function invite(
  db: Kysely<Database>,
  session: Session,
  input: { email: unknown; role: unknown },
): Promise<{ token: string; email: string; role: PortalRole; expiresAt: Date }> {
  requireOwner(session);
  const email = typeof input.email === "string" ? normalizeEmail(input.email) : "";
  const fields: Record<string, string> = {};
  if (!EMAIL.test(email) || email.length > 320) fields.email = "Enter an email address, such as ada@example.com.";
  let role: PortalRole = "member";
  try {
    role = parseRole(input.role);
  } catch {
    fields.role = "Choose owner, admin or member.";
  }
  if (Object.keys(fields).length > 0) throw new PortalError("invalid", "Check the highlighted fields.", { fields });
  const made = await withTenant(db, session.tenantId, (trx) =>
    createInvitation(trx, { tenantId: session.tenantId, email, role, invitedBy: session.userId }),
  );
  return { ...made, email, role };
}

/** Locks the tenant's owners and throws when `userId` is the last of them (a tenant always keeps one). */
async function keepAnOwner(trx: Transaction<Database>, userId: string, what: string): Promise<void> {
  const owners = await trx.selectFrom("portal_users").select("id").where("role", "=", "owner").forUpdate().execute();
  if (owners.length === 1 && owners[0]?.id === userId) {
    throw new PortalError("conflict", `This is the last owner, so they cannot be ${what}. Make someone else an owner first.`);
  }
}

/** Changes a person's role; never leaves the tenant without an owner. Sessions read the role on every request, so it applies at once. */
export async function changeRole(db: Kysely<Database>, session: Session, userId: string, roleInput: unknown): Promise<void> {
  requireOwner(session);
  const role = parseRole(roleInput);
  if (!isUuid(userId)) throw notFound("This person");
  await withTenant(db, session.tenantId, async (trx) => {
    const user = await trx.selectFrom("portal_users").select(["id", "role"]).where("id", "=", userId).executeTakeFirst();
    if (user === undefined) throw notFound("This person");
    if (user.role === role) return;
    if (user.role === "owner") await keepAnOwner(trx, userId, "made an admin or member");
    await trx.updateTable("portal_users").set({ role }).where("id", "=", userId).execute();
  });
}

/** Removes a person (their sessions go with them); never the last owner. */
export async function removeMember(db: Kysely<Database>, session: Session, userId: string): Promise<void> {
  requireOwner(session);
  if (!isUuid(userId)) throw notFound("This person");
  await withTenant(db, session.tenantId, async (trx) => {
    const user = await trx.selectFrom("portal_users").select(["id", "role"]).where("id", "=", userId).executeTakeFirst();
    if (user === undefined) throw notFound("This person");
    if (user.role === "owner") await keepAnOwner(trx, userId, "removed");
    await trx.deleteFrom("portal_users").where("id", "=", userId).execute();
  });
}
