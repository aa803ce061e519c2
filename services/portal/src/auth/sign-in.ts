import { type Database, hashPassword, verifyPassword, withTenant } from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import { PortalError } from "../errors.ts";
import type { PortalMetrics } from "../metrics.ts";
import { openSession, purgeExpiredSessionsOf, type SessionLifetime, type SessionOrigin } from "./sessions.ts";
import { normalizeEmail, type SignInThrottle } from "./throttle.ts";

/** What signing in needs. */
export interface SignInDeps {
  db: Kysely<Database>;
  throttle: SignInThrottle;
  lifetime: SessionLifetime;
  metrics: Pick<PortalMetrics, "signIns">;
}

/** The longest password accepted: argon2 hashes any length, but a megabyte of "password" is an attack. */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 12;

/** The one answer to every failed sign-in, whether or not the email exists. */
export const SIGN_IN_FAILED = "That email and password do not match an account. Check both and try again.";

let decoy: Promise<string> | undefined;
/**
 * A hash to verify against when the email is unknown, so an unknown email costs the same
 * argon2id time as a wrong password and the response time does not tell them apart.
 */
function decoyHash(): Promise<string> {
  decoy ??= hashPassword(`decoy-${Math.random()}-${Date.now()}`);
  return decoy;
}

interface UserRow {
  user_id: string;
  tenant_id: string;
  password_hash: string;
  role: string;
}

/**
 * Signs a person in by email and password and opens a new session. Refuses while the email or
 * the client address is locked out (before any password is checked), and counts every failure.
 * Each attempt is counted in `konstruct_portal_sign_ins_total` by result, whichever route asked.
 */
export async function signIn(
  deps: SignInDeps,
  credentials: { email: string; password: string },
  origin: SessionOrigin,
): Promise<{ token: string; csrfToken: string }> {
  try {
    const opened = await checkAndOpen(deps, credentials, origin);
    deps.metrics.signIns.inc({ result: "ok" });
    return opened;
  } catch (error) {
    if (error instanceof PortalError) deps.metrics.signIns.inc({ result: error.code === "throttled" ? "throttled" : "failed" });
    throw error;
  }
}

async function checkAndOpen(
  deps: SignInDeps,
  credentials: { email: string; password: string },
  origin: SessionOrigin,
): Promise<{ token: string; csrfToken: string }> {
  const email = normalizeEmail(credentials.email);
  const wait = await deps.throttle.lockedFor(email, origin.address);
  if (wait > 0) {
    throw new PortalError(
      "throttled",
      `Too many failed sign-ins. Wait ${Math.ceil(wait / 60)} minute${wait > 60 ? "s" : ""} and try again, or ask an owner of your organisation to check your account.`,
      { retryAfter: wait },
    );
  }
  const password = credentials.password.slice(0, MAX_PASSWORD_LENGTH);
  const { rows } = await sql<UserRow>`select * from konstruct_portal_user_by_email(${email})`.execute(deps.db);
  const user = rows[0];
  const matches = await verifyPassword(user?.password_hash ?? (await decoyHash()), password);
  if (user === undefined || !matches || email.length === 0) {
    await deps.throttle.fail(email, origin.address);
    throw new PortalError("unauthenticated", SIGN_IN_FAILED);
  }
  await deps.throttle.succeed(email);
  return withTenant(deps.db, user.tenant_id, async (trx) => {
    await purgeExpiredSessionsOf(trx, user.user_id);
    return openSession(trx, { tenantId: user.tenant_id, userId: user.user_id }, origin, deps.lifetime);
  });
}

/** Checks a new password's length; the message says what is wrong. */
export function checkNewPassword(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
  if (password.length > MAX_PASSWORD_LENGTH) return `Use at most ${MAX_PASSWORD_LENGTH} characters.`;
  return undefined;
}
