import { tenantKeyPattern } from "@konstruct/core";
import { jsonEqual, type Outcome, ok } from "../conditions.ts";
import { ProvisionError } from "../errors.ts";
import type { AclUserSpec } from "../ports.ts";
import { generatePassword, sha256Hex } from "./passwords.ts";
import { MANAGED_BY, REDIS_SECRET, type TenantDeps, type TenantNames } from "./tenant-context.ts";

/**
 * Commands a tenant may run, on its own keys and channels only. `@dangerous` and `@admin`
 * cover FLUSHALL/FLUSHDB, KEYS, CONFIG, DEBUG, SHUTDOWN, MONITOR, CLIENT KILL, ACL and the
 * like. Also denied, though outside those categories: commands that name keys or channels
 * without going through the key patterns (SCAN and RANDOMKEY return other tenants' key
 * names, DBSIZE counts them, PUBSUB lists channels), SELECT (another database), FUNCTION and
 * SCRIPT FLUSH/KILL/DEBUG (server-wide state every tenant shares;
 * a synchronous script debugger blocks the server).
 */
export const TENANT_COMMAND_RULES =
  "+@all -@dangerous -@admin -scan -randomkey -dbsize -pubsub -select -function -script|flush -script|kill -script|debug";

/** The ACL user a tenant's password should produce. */
export function desiredAclUser(tenantId: string, password: string): AclUserSpec {
  const pattern = tenantKeyPattern(tenantId);
  return {
    enabled: true,
    passwordHashes: [sha256Hex(password)],
    keys: `~${pattern}`,
    channels: `&${pattern}`,
    commands: TENANT_COMMAND_RULES,
  };
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
    if (current === null || !jsonEqual(current, desired)) {
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
