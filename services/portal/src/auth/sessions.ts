import { randomBytes } from "node:crypto";
import { type Database, isPortalToken, newPortalToken, type PortalRole, portalTokenDigest, withTenant } from "@konstruct/core";
import { type Kysely, sql, type Transaction } from "kysely";

/** A signed-in person, as every route sees them: the tenant comes from here and nowhere else. */
export interface Session {
  id: string;
  tenantId: string;
  /** The Tenant resource's name: the impersonated identities are `konstruct-portal:<name>:<role>`. */
  tenantName: string;
  tenantDisplayName: string;
  namespace: string;
  userId: string;
  email: string;
  displayName: string;
  role: PortalRole;
  csrfToken: string;
  createdAt: Date;
  expiresAt: Date;
}

/** How long sessions live. */
export interface SessionLifetime {
  idleMs: number;
  absoluteMs: number;
}

/** Where a session was opened from, kept so a person can recognise their sessions. */
export interface SessionOrigin {
  userAgent: string;
  address: string;
}

// last_seen_at is written at most once a minute per session: a page load is a read, not a write.
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Opens a session for a person who just proved who they are. Always a new token: an id a
 * browser held before sign-in is never promoted, so session fixation has nothing to fix.
 * The database keeps only the token's digest; the token goes to the cookie.
 */
export async function openSession(
  trx: Transaction<Database>,
  user: { tenantId: string; userId: string },
  origin: SessionOrigin,
  lifetime: SessionLifetime,
): Promise<{ token: string; csrfToken: string }> {
  const token = newPortalToken();
  const csrfToken = randomBytes(32).toString("base64url");
  await trx
    .insertInto("portal_sessions")
    .values({
      tenant_id: user.tenantId,
      user_id: user.userId,
      token_hash: portalTokenDigest(token),
      csrf_token: csrfToken,
      expires_at: new Date(Date.now() + lifetime.absoluteMs),
      user_agent: origin.userAgent.slice(0, 512),
      address: origin.address.slice(0, 64),
    })
    .execute();
  return { token, csrfToken };
}

interface LookupRow {
  session_id: string;
  tenant_id: string;
  user_id: string;
  expires_at: Date;
}

/**
 * The session a cookie token names, or null when it is unknown, expired (absolute) or idle
 * too long; an ended session is deleted on the way. Found through the security-definer lookup
 * (the tenant is not known yet), then read under the tenant's row-level security.
 */
export async function resolveSession(
  db: Kysely<Database>,
  token: string | undefined,
  lifetime: SessionLifetime,
): Promise<Session | null> {
  if (token === undefined || !isPortalToken(token)) return null;
  const { rows } = await sql<LookupRow>`select * from konstruct_portal_session(${portalTokenDigest(token)})`.execute(db);
  const found = rows[0];
  if (found === undefined) return null;
  return withTenant(db, found.tenant_id, async (trx) => {
    const row = await trx
      .selectFrom("portal_sessions as s")
      .innerJoin("portal_users as u", "u.id", "s.user_id")
      .innerJoin("tenants as t", "t.id", "s.tenant_id")
      .select([
        "s.id",
        "s.csrf_token",
        "s.created_at",
        "s.last_seen_at",
        "s.expires_at",
        "u.id as user_id",
        "u.email",
        "u.display_name",
        "u.role",
        "t.name as tenant_name",
        "t.display_name as tenant_display_name",
        "t.namespace",
      ])
      .where("s.id", "=", found.session_id)
      .executeTakeFirst();
    if (row === undefined) return null;
    const now = Date.now();
    if (row.expires_at.getTime() <= now || row.last_seen_at.getTime() + lifetime.idleMs <= now) {
      await trx.deleteFrom("portal_sessions").where("id", "=", row.id).execute();
      return null;
    }
    if (now - row.last_seen_at.getTime() > TOUCH_INTERVAL_MS) {
      await trx
        .updateTable("portal_sessions")
        .set({ last_seen_at: new Date(now) })
        .where("id", "=", row.id)
        .execute();
    }
    return {
      id: row.id,
      tenantId: found.tenant_id,
      tenantName: row.tenant_name,
      tenantDisplayName: row.tenant_display_name,
      namespace: row.namespace,
      userId: row.user_id,
      email: row.email,
      displayName: row.display_name,
      role: row.role,
      csrfToken: row.csrf_token,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  });
}

/** Ends one session (sign out). */
export async function endSession(db: Kysely<Database>, session: Pick<Session, "tenantId" | "id">): Promise<void> {
  await withTenant(db, session.tenantId, (trx) => trx.deleteFrom("portal_sessions").where("id", "=", session.id).execute());
}

/** Ends every session of a person, except `keep` when given (sign out everywhere, password change). */
export async function endSessionsOf(trx: Transaction<Database>, userId: string, keep?: string): Promise<number> {
  let query = trx.deleteFrom("portal_sessions").where("user_id", "=", userId);
  if (keep !== undefined) query = query.where("id", "<>", keep);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Deletes a person's sessions past their absolute expiry (already refused; this reclaims the rows at their next sign-in). */
export async function purgeExpiredSessionsOf(trx: Transaction<Database>, userId: string): Promise<void> {
  await trx.deleteFrom("portal_sessions").where("user_id", "=", userId).where("expires_at", "<", new Date()).execute();
}
