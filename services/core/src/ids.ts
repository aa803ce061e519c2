import { randomUUID } from "node:crypto";
import { TenantIdError } from "./errors.ts";

/**
 * A canonical UUID: the one pattern every schema (JSON Schema `pattern`, the Tenant CRD) and
 * check uses. Lower-case only: keys, subjects and ACL patterns compare ids as strings, so
 * accepting upper-case would let one tenant own two spellings of its prefix.
 */
export const UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
const UUID = new RegExp(UUID_PATTERN);

/** True when `value` is a canonical lower-case UUID. */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** Returns `value` when it is a tenant id (canonical UUID), else throws TenantIdError. */
export function assertTenantId(value: unknown): string {
  if (!isUuid(value)) throw new TenantIdError(value);
  return value;
}

/** A new random id (UUID v4). */
export function newId(): string {
  return randomUUID();
}
