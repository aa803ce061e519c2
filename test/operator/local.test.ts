import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, parseSecretKey, portalTokenDigest } from "@konstruct/core";
import { invitationToken } from "@konstruct/operator";
import { localTenantId, reconcileManifests } from "@konstruct/operator/local";
import { Redis } from "ioredis";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../src/database.ts";
import { serverUrl } from "../src/env.ts";
import { TEST_SECRET_KEY } from "./harness.ts";

let database: TestDatabase;
let redis: Redis;
let dir: string;

beforeAll(async () => {
  database = await createTestDatabase("klocal");
  redis = new Redis(serverUrl("REDIS_ADMIN_URL"));
  redis.on("error", () => {}); // another test file may be restarting Redis
  dir = await mkdtemp(join(tmpdir(), "konstruct-local-"));
});

afterAll(async () => {
  redis?.disconnect();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

const MANIFESTS = `
apiVersion: konstruct.io/v1alpha1
kind: Tenant
metadata: { name: local-acme }
spec:
  displayName: Acme (local)
  owners: [{ email: first@local-acme.example }]
  channels:
    - { name: slack, type: slack, externalId: TLOCAL1, credentialsSecretRef: { name: slack-app } }
    - { name: chat, type: webchat, externalId: local-acme-chat, allowedOrigins: ["http://127.0.0.1:8080"] }
---
apiVersion: v1
kind: Secret
metadata: { name: slack-app, namespace: konstruct-local-acme }
stringData: { botToken: xoxb-local, signingSecret: local-signing }
---
apiVersion: konstruct.io/v1alpha1
kind: Agent
metadata: { name: ada, namespace: konstruct-local-acme }
spec: { displayName: Ada, model: llama3.2:3b, default: true }
`;

describe("the local driver (no cluster)", () => {
  it("reconciles Tenants, Agents and Secrets from files with the operator's own functions, stably across runs", async () => {
    const file = join(dir, "examples.yaml");
    await writeFile(file, MANIFESTS);
    const deps = {
      db: database.admin,
      redis,
      secretKey: parseSecretKey(TEST_SECRET_KEY),
      endpoints: {
        postgresHost: "127.0.0.1",
        postgresPort: 5432,
        postgresDatabase: database.name,
        redisHost: "127.0.0.1",
        redisPort: 6379,
      },
      log: createLogger({ name: "local-test", level: "silent" }),
      stateFile: join(dir, "state.json"),
      portalPublicUrl: "http://127.0.0.1:8084",
    };
    const first = await reconcileManifests([file], deps);
    expect(first.map((r) => [r.kind, r.name, r.ready, r.reason])).toEqual([
      ["Tenant", "local-acme", true, "Reconciled"],
      ["Agent", "ada", true, "Reconciled"],
    ]);
    const tenantId = localTenantId("local-acme");
    expect(first[0]?.status.tenantId).toBe(tenantId);
    const rows = await database.admin
      .selectFrom("channel_connections")
      .select(["name", "id"])
      .where("tenant_id", "=", tenantId)
      .orderBy("name")
      .execute();
    expect(rows.map((r) => r.name)).toEqual(["chat", "slack"]);

    const second = await reconcileManifests([file], deps);
    expect(second.every((r) => r.ready)).toBe(true);
    // Same tenant id, same connection ids: webhook paths survive restarts.
    const channels = second[0]?.status.channels as { name: string; connectionId: string }[];
    expect(channels.map((c) => c.connectionId).sort()).toEqual(rows.map((r) => r.id).sort());

    // The first owner's one-time link (what npm start prints): one invitation, the same link
    // on the next run (the state file keeps it), found by its token's digest.
    const [owner] = first[0]?.owners ?? [];
    expect(owner?.email).toBe("first@local-acme.example");
    expect(owner?.link).toMatch(/^http:\/\/127\.0\.0\.1:8084\/portal\/invitations\/[A-Za-z0-9_-]{43}$/);
    expect(second[0]?.owners).toEqual(first[0]?.owners);
    const token = invitationToken(owner?.link as string) as string;
    const { rows: found } = await sql<{ email: string; role: string }>`
      select email, role from konstruct_portal_invitation(${portalTokenDigest(token)})`.execute(database.admin);
    expect(found).toEqual([{ email: "first@local-acme.example", role: "owner" }]);
    expect(second[0]?.status.conditions).toContainEqual(
      expect.objectContaining({
        type: "OwnersInvited",
        status: "True",
        message: expect.stringMatching(/^1 owner\(s\): 0 joined, 1 invited/),
      }),
    );
  });

  it("rejects an invalid manifest naming the field", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      "apiVersion: konstruct.io/v1alpha1\nkind: Tenant\nmetadata: { name: bad }\nspec: { displayName: Bad, reclaimPolicy: Sometimes }\n",
    );
    await expect(
      reconcileManifests([file], {
        db: database.admin,
        redis,
        secretKey: parseSecretKey(TEST_SECRET_KEY),
        endpoints: { postgresHost: "h", postgresPort: 1, postgresDatabase: "d", redisHost: "h", redisPort: 1 },
        log: createLogger({ name: "local-test", level: "silent" }),
      }),
    ).rejects.toThrow(/\/spec\/reclaimPolicy/);
  });
});
