import { randomBytes } from "node:crypto";
import { deleteKeysMatching } from "@konstruct/core/redis-keys";
import type { Redis } from "ioredis";
import type { AclUserSpec, RedisAcl } from "../ports.ts";

const USER = /^konstruct-t-[0-9a-f-]{36}$/;

function checkUser(user: string): string {
  if (!USER.test(user)) throw new Error(`refusing to manage Redis user ${JSON.stringify(user)}: not a konstruct tenant user`);
  return user;
}

/** Reads ACL GETUSER's flat [field, value, …] reply. */
function parseGetUser(reply: unknown[]): AclUserSpec {
  const fields = new Map<string, unknown>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]);
  const flags = (fields.get("flags") as string[] | undefined) ?? [];
  return {
    enabled: flags.includes("on"),
    passwordHashes: ((fields.get("passwords") as string[] | undefined) ?? []).map(String),
    keys: String(fields.get("keys") ?? ""),
    channels: String(fields.get("channels") ?? ""),
    commands: String(fields.get("commands") ?? ""),
  };
}

/** Tenant ACL users over the admin connection (a user allowed to run ACL). */
export function createRedisAcl(redis: Redis): RedisAcl {
  const normalized = new Map<string, string>();
  return {
    async get(user) {
      const reply = (await redis.call("ACL", "GETUSER", checkUser(user))) as unknown[] | null;
      return reply === null ? null : parseGetUser(reply);
    },
    async normalizeCommands(rules) {
      const known = normalized.get(rules);
      if (known !== undefined) return known;
      // Learn the server's spelling once per process from a disabled scratch user.
      const probe = `konstruct-probe-${randomBytes(6).toString("hex")}`;
      try {
        await redis.call("ACL", "SETUSER", probe, "reset", "off", ...rules.split(" "));
        const reply = (await redis.call("ACL", "GETUSER", probe)) as unknown[];
        const spelled = parseGetUser(reply).commands;
        normalized.set(rules, spelled);
        return spelled;
      } finally {
        await redis.call("ACL", "DELUSER", probe);
      }
    },
    async set(user, spec) {
      // `reset` first, so no rule of an older version of this user survives.
      await redis.call(
        "ACL",
        "SETUSER",
        checkUser(user),
        "reset",
        spec.enabled ? "on" : "off",
        ...spec.passwordHashes.map((h) => `#${h}`),
        ...spec.keys.split(" "),
        ...spec.channels.split(" "),
        ...spec.commands.split(" "),
      );
    },
    async delete(user) {
      await redis.call("ACL", "DELUSER", checkUser(user));
    },
    deleteKeys: (pattern) => deleteKeysMatching(redis, pattern),
  };
}
