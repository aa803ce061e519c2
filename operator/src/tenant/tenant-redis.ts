import { tenantKeyPattern, tenantWritableKeyPatterns } from "@konstruct/core/redis-keys";
import { jsonEqual, type Outcome, ok } from "../conditions.ts";
import { ProvisionError } from "../errors.ts";
import type { AclUserSpec } from "../ports.ts";
import { generatePassword, sha256Hex } from "./passwords.ts";
import { MANAGED_BY, REDIS_SECRET, type TenantDeps, type TenantNames } from "./tenant-context.ts";

/**
 * Commands a tenant may run, on its own keys and channels only: an allow-list of the data
 * types' commands plus what a client needs to connect (AUTH, HELLO, PING, MULTI/EXEC, CLIENT
 * ID/GETNAME/SETNAME/INFO), then everything that reaches past the tenant's own keys taken away:
 * - scripting and functions (`while true do end` in EVAL blocks every client of the server);
 * - other CLIENT subcommands: TRACKING (with HELLO 3 and BCAST it delivers invalidations for
 *   every tenant's key names), LIST, KILL, PAUSE, UNBLOCK, …;
 * - blocking commands (BLPOP, XREAD, WAIT, …), which hold server-side state for a client;
 * - other databases (SELECT, MOVE, COPY … DB, SWAPDB) and key enumeration that ignores key
 *   patterns (SCAN, RANDOMKEY, DBSIZE, KEYS), PUBSUB introspection;
 * - `@dangerous` and `@admin` (FLUSHALL, CONFIG, DEBUG, SORT BY, RESTORE, MONITOR, …).
 * Names only from Redis 7.0, so ACL SETUSER accepts every one of them there.
 */
export const TENANT_COMMAND_RULES = [
  "-@all",
  ...["+@string", "+@list", "+@hash", "+@set", "+@sortedset", "+@stream", "+@bitmap", "+@hyperloglog", "+@geo"],
  ...["+@keyspace", "+@transaction", "+@pubsub", "+@connection"],
  ...["-@dangerous", "-@admin", "-@scripting", "-@blocking"],
  ...["-scan", "-randomkey", "-dbsize", "-move", "-copy", "-select", "-swapdb", "-wait", "-pubsub"],
  ...["-client", "+client|id", "+client|getname", "+client|setname", "+client|info"],
].join(" ");

/** The ACL user a tenant's password should produce. */
export function desiredAclUser(tenantId: string, password: string): AclUserSpec {
  const pattern = tenantKeyPattern(tenantId);
  return {
    enabled: true,
    passwordHashes: [sha256Hex(password)],
    // Redis 7 key permissions: read every key of the tenant (`%R~`), read and write only the
    // types the platform does not decide with.
    keys: [`%R~${pattern}`, ...tenantWritableKeyPatterns(tenantId).map((p) => `~${p}`)].join(" "),
    channels: `&${pattern}`,
    commands: TENANT_COMMAND_RULES,
  };
}

/** `commands` as ACL GETUSER spells it, with its rules on single commands in one order: see sameAclUser. */
function canonicalCommands(rules: string): string {
  const tokens = rules.split(" ").filter((t) => t !== "");
  const firstCommand = tokens.findIndex((t) => !t.includes("@"));
  if (firstCommand < 0) return tokens.join(" ");
  const tail = tokens.slice(firstCommand);
  // A category after a single command would make order matter: compare such rules exactly.
  if (tail.some((t) => t.includes("@"))) return tokens.join(" ");
  return [...tokens.slice(0, firstCommand), ...tail.sort()].join(" ");
}

/**
 * True when the user Redis reports is the one wanted. ACL GETUSER lists the categories first,
 * then the rules on single commands and subcommands (`-client|kill`, `-pubsub|numpat`) in the
 * order of a server hash table, which differs between two users given the same rules (Redis
 * 7.0: every resync found every tenant's user "different" and rewrote it). Those single-command
 * rules each name a different command, so they are compared as a set; everything else exactly.
 */
export function sameAclUser(current: AclUserSpec, desired: AclUserSpec): boolean {
  return jsonEqual(
    { ...current, commands: canonicalCommands(current.commands) },
    { ...desired, commands: canonicalCommands(desired.commands) },
  );
}

/**
 * The tenant's Redis ACL user and its Secret. Redis forgets ACL users on restart (there is no
 * ACL file), so every resync re-reads the user with ACL GETUSER and recreates it when missing
 * or different; an unchanged user costs one read.
 */
export async function ensureTenantRedis(names: TenantNames, deps: TenantDeps): Promise<Outcome> {
  const secret = await deps.kube.getSecret(names.namespace, REDIS_SECRET);
  const known = secret?.password;
  const password = known && known.length >= 16 ? known : generatePassword();
  const desired = desiredAclUser(names.tenantId, password);
  try {
    desired.commands = await deps.acl.normalizeCommands(desired.commands);
    const current = await deps.acl.get(names.aclUser);
    if (current === null || !sameAclUser(current, desired)) {
      await deps.acl.set(names.aclUser, desired);
      deps.log.info(
        { tenantId: names.tenantId, user: names.aclUser, recreated: current === null },
        "wrote tenant Redis ACL user",
      );
    }
  } catch (cause) {
    throw new ProvisionError("AclFailed", `while writing Redis ACL user ${names.aclUser}`, { cause });
  }
  const { redisHost: host, redisPort: port } = deps.endpoints;
  const data = {
    host,
    port: String(port),
    user: names.aclUser,
    password,
    url: `redis://${encodeURIComponent(names.aclUser)}:${encodeURIComponent(password)}@${host}:${port}`,
    keyPrefix: `${names.tenantId}:`,
    tenantId: names.tenantId,
  };
  if (secret === null || !jsonEqual(secret, data)) {
    await deps.kube.applySecret(names.namespace, REDIS_SECRET, data, { ...MANAGED_BY, "konstruct.io/tenant-id": names.tenantId });
  }
  return ok("AclUserReady", `ACL user ${names.aclUser} limited to ${desired.keys}; credentials in Secret ${REDIS_SECRET}`);
}
