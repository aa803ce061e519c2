import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { fields, parseConfig, portField } from "./config.ts";
import { ConfigError } from "./errors.ts";

const schema = Type.Object({
  DATABASE_URL: fields.DATABASE_URL,
  REDIS_URL: fields.REDIS_URL,
  NATS_URL: fields.NATS_URL,
  SLACK_SIGNING_SECRET: fields.SLACK_SIGNING_SECRET,
  KONSTRUCT_SECRET_KEY: fields.KONSTRUCT_SECRET_KEY,
  LOG_LEVEL: fields.LOG_LEVEL,
  PORT: portField(8080, "HTTP port"),
});

const good = {
  DATABASE_URL: "postgres://konstruct_app:pw@localhost:5432/konstruct",
  REDIS_URL: "redis://localhost:6379",
  NATS_URL: "nats://a:4222,nats://b:4222",
  SLACK_SIGNING_SECRET: "8f742231b10e8888abcd99yyyzzz85a5",
  KONSTRUCT_SECRET_KEY: Buffer.alloc(32, 7).toString("base64"),
};

describe("parseConfig", () => {
  it("converts, applies defaults and freezes", () => {
    const config = parseConfig(schema, { ...good, PORT: "9000", UNRELATED: "x" });
    expect(config.PORT).toBe(9000);
    expect(config.LOG_LEVEL).toBe("info");
    expect(Object.isFrozen(config)).toBe(true);
    expect(config).not.toHaveProperty("UNRELATED");
  });

  it("lists every bad field at once, by name, without echoing secret values", () => {
    let error: unknown;
    try {
      parseConfig(schema, {
        DATABASE_URL: "mysql://x",
        PORT: "70000",
        SLACK_SIGNING_SECRET: "short",
        LOG_LEVEL: "loud",
        KONSTRUCT_SECRET_KEY: "not-base64-secret",
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { issues, message } = error as ConfigError;
    expect(issues.map((i) => i.split(" ")[0]).sort()).toEqual(
      ["DATABASE_URL", "KONSTRUCT_SECRET_KEY", "LOG_LEVEL", "NATS_URL", "PORT", "REDIS_URL", "SLACK_SIGNING_SECRET"].sort(),
    );
    expect(issues).toContain("REDIS_URL is required");
    expect(message).not.toContain("not-base64-secret");
    expect(message).not.toContain("short");
  });

  it("treats empty strings as unset", () => {
    expect(() => parseConfig(schema, { ...good, REDIS_URL: "" })).toThrow(/REDIS_URL is required/);
  });
});
