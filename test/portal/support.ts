import { randomBytes, randomUUID } from "node:crypto";
import { createLogger, type Database, hashPassword, newPortalToken, type PortalRole, portalTokenDigest } from "@konstruct/core";
import {
  buildApp,
  createMetrics,
  createSignInThrottle,
  type KubeAccess,
  type ModelCatalog,
  type PortalDeps,
} from "@konstruct/portal";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { serverUrl } from "../src/env.ts";

export const PUBLIC_URL = "https://portal.test.example";
export const GATEWAY_URL = "https://chat.test.example";
export const PASSWORD = "correct horse battery staple";

/** A tenant seeded straight into the database (as the operator would), with one owner. */
export interface SeededPortalTenant {
  id: string;
  name: string;
  namespace: string;
  ownerEmail: string;
  ownerId: string;
}

/** Seeds a tenant row, a web chat connection and an owner with {@link PASSWORD}. */
export async function seedPortalTenant(admin: Kysely<Database>, label: string, hash: string): Promise<SeededPortalTenant> {
  const id = randomUUID();
  const suffix = randomBytes(3).toString("hex");
  const name = `${label}-${suffix}`;
  const namespace = `konstruct-${name}`;
  await admin
    .insertInto("tenants")
    .values({ id, name, display_name: `Tenant ${label}`, namespace, tokens_per_day: 50_000, updated_at: new Date() })
    .execute();
  await admin
    .insertInto("channel_connections")
    .values({
      tenant_id: id,
      name: "support-chat",
      channel_type: "webchat",
      external_id: `wc-${suffix}`,
      credentials: null,
      settings: JSON.stringify({ allowedOrigins: ["https://www.example.com"] }),
      updated_at: new Date(),
    })
    .execute();
  const ownerEmail = `owner-${suffix}@${label}.example`;
  const owner = await admin
    .insertInto("portal_users")
    .values({ tenant_id: id, email: ownerEmail, password_hash: hash, role: "owner", display_name: `Owner ${label}` })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { id, name, namespace, ownerEmail, ownerId: owner.id };
}

/** Adds a person with `role` and {@link PASSWORD}; returns their email. */
export async function addPerson(
  admin: Kysely<Database>,
  tenant: SeededPortalTenant,
  role: PortalRole,
  hash: string,
): Promise<string> {
  const email = `${role}-${randomBytes(3).toString("hex")}@${tenant.name}.example`;
  await admin.insertInto("portal_users").values({ tenant_id: tenant.id, email, password_hash: hash, role }).execute();
  return email;
}

/** An invitation made the way the operator makes first owners' (invited_by null); returns the token. */
export async function seedInvitation(
  admin: Kysely<Database>,
  tenantId: string,
  email: string,
  role: PortalRole,
): Promise<string> {
  const token = newPortalToken();
  await admin
    .insertInto("portal_invitations")
    .values({
      tenant_id: tenantId,
      email,
      role,
      token_hash: portalTokenDigest(token),
      expires_at: new Date(Date.now() + 86_400_000),
    })
    .execute();
  return token;
}

export interface PortalUnderTest {
  app: FastifyInstance;
  redis: Redis;
  close(): Promise<void>;
}

/** The portal's app over the app role's database and the shared Redis, with a throttle prefix of its own. */
export async function startPortal(
  db: Kysely<Database>,
  kube: KubeAccess,
  options: Partial<Pick<PortalDeps, "lifetime">> & { perEmail?: number; perAddress?: number; models?: ModelCatalog } = {},
): Promise<PortalUnderTest> {
  const redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 2 });
  const app = await buildApp({
    db,
    throttle: createSignInThrottle(redis, {
      perEmail: options.perEmail ?? 5,
      perAddress: options.perAddress ?? 20,
      windowSeconds: 60,
      keyPrefix: `test:portal:${randomBytes(6).toString("hex")}:`,
    }),
    kube,
    models: options.models ?? { list: async () => ["llama3.2:3b", "qwen2.5:0.5b"] },
    metrics: createMetrics(),
    log: createLogger({ name: "portal-test", level: process.env.PORTAL_TEST_LOG ?? "silent" }),
    publicUrl: PUBLIC_URL,
    gatewayUrl: GATEWAY_URL,
    lifetime: options.lifetime ?? { idleMs: 3_600_000, absoluteMs: 12 * 3_600_000 },
  });
  return {
    app,
    redis,
    async close() {
      await app.close();
      redis.disconnect();
    },
  };
}

/**
 * A browser as far as the portal can tell: keeps cookies, sends same-origin fetch metadata,
 * and remembers the CSRF token the session hands out.
 */
export class Browser {
  readonly cookies = new Map<string, string>();
  csrf = "";

  readonly app: FastifyInstance;
  readonly address: string;

  constructor(app: FastifyInstance, address = `10.${rnd()}.${rnd()}.${rnd()}`) {
    this.app = app;
    this.address = address;
  }

  async request(options: InjectOptions & { sameOrigin?: boolean }): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = {
      ...(options.headers as Record<string, string> | undefined),
      cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
    };
    if (options.sameOrigin !== false && options.method !== "GET" && options.method !== undefined) {
      headers.origin ??= PUBLIC_URL;
      headers["sec-fetch-site"] ??= "same-origin";
    }
    const { sameOrigin: _, ...rest } = options;
    const response = await this.app.inject({ ...rest, headers, remoteAddress: this.address });
    for (const c of response.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
      if (c.value === "" || c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now())) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return response;
  }

  /** GET /portal/api/session; keeps the CSRF token it returns. */
  async session(): Promise<{ signedIn: boolean; csrfToken: string; user?: { email: string; role: string } }> {
    const response = await this.request({ method: "GET", url: "/portal/api/session" });
    const body = response.json();
    this.csrf = body.csrfToken;
    return body;
  }

  /** Signs in through the API; returns the response. */
  async signIn(email: string, password = PASSWORD): Promise<LightMyRequestResponse> {
    await this.session();
    const response = await this.api("POST", "/portal/api/session", { email, password });
    if (response.statusCode === 201) this.csrf = response.json().csrfToken;
    return response;
  }

  /** A JSON API call carrying the CSRF token. */
  api(method: "GET" | "POST" | "PUT" | "DELETE", url: string, payload?: unknown): Promise<LightMyRequestResponse> {
    return this.request({
      method,
      url,
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      headers: method === "GET" ? {} : { "x-csrf-token": this.csrf },
    });
  }
}

const rnd = () => Math.floor(Math.random() * 250) + 1;

/** A password hash for the seeded people (argon2id is slow on purpose: hash once per file). */
export function passwordHash(): Promise<string> {
  return hashPassword(PASSWORD);
}
