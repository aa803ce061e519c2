// `npm run bench -- portal`: p50/p99 of the portal's pages and API for a tenant with 10,000
// conversations and 200,000 messages (seeded with generate_series), over a real socket, with
// the machine's load beside the figures. Not a test: it prints, it never fails on a slow machine.
import { randomUUID } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import { createLogger, hashPassword } from "@konstruct/core";
import { countHistoryByDay, createTestDatabase } from "@konstruct/testkit";
import { Redis } from "ioredis";
import { sql } from "kysely";
import { buildApp, createMetrics, createSignInThrottle } from "../src/index.ts";

const CONVERSATIONS = Number(process.argv[2] ?? 10_000);
const MESSAGES_PER_CONVERSATION = Number(process.argv[3] ?? 20);
const REQUESTS = 100;
const CONCURRENCY = 4;

const database = await createTestDatabase("kbenchportal");
const redis = new Redis(process.env.REDIS_ADMIN_URL as string);
try {
  const tenantId = randomUUID();
  const db = database.admin;
  await db
    .insertInto("tenants")
    .values({ id: tenantId, name: "bench", display_name: "Bench", namespace: "konstruct-bench", updated_at: new Date() })
    .execute();
  const password = "benchmark passphrase";
  await db
    .insertInto("portal_users")
    .values({ tenant_id: tenantId, email: "owner@bench.example", password_hash: await hashPassword(password), role: "owner" })
    .execute();
  for (const name of ["ada", "grace", "linus", "barbara", "ken"]) {
    await db
      .insertInto("agents")
      .values({ tenant_id: tenantId, name, display_name: name, model: "llama3.2:3b", updated_at: new Date() })
      .execute();
  }
  await db
    .insertInto("channel_connections")
    .values({
      tenant_id: tenantId,
      name: "support-chat",
      channel_type: "webchat",
      external_id: "bench-wc",
      settings: "{}",
      updated_at: new Date(),
    })
    .execute();
  const started = performance.now();
  await sql`
    insert into conversations (tenant_id, channel_type, connection_name, thread_key, subject, started_at, last_message_at, message_count)
    select ${tenantId}, 'webchat', 'support-chat', 'thread-' || i, 'Question ' || i,
           now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval + interval '5 minutes', ${MESSAGES_PER_CONVERSATION}
    from generate_series(1, ${CONVERSATIONS}) as i`.execute(db);
  const words = [
    "refund",
    "invoice",
    "overdue",
    "password",
    "reset",
    "delivery",
    "late",
    "upgrade",
    "plan",
    "billing",
    "login",
    "error",
    "shipping",
    "address",
    "cancel",
    "order",
    "thanks",
    "hello",
    "please",
    "account",
  ];
  await sql`
    insert into conversation_messages (tenant_id, conversation_id, message_key, direction, sender_name, agent_name, model,
                                       prompt_tokens, completion_tokens, latency_ms, text, created_at)
    select c.tenant_id, c.id, c.thread_key || ':' || m, case when m % 2 = 0 then 'reply' else 'inbound' end,
           case when m % 2 = 0 then null else 'visitor' end, case when m % 2 = 0 then 'ada' else null end,
           case when m % 2 = 0 then 'llama3.2:3b' else null end,
           case when m % 2 = 0 then 120 else null end, case when m % 2 = 0 then 40 else null end, case when m % 2 = 0 then 900 else null end,
           (${sql.val(words)}::text[])[1 + (m * 7 + length(c.thread_key)) % 20] || ' ' || (${sql.val(words)}::text[])[1 + (m * 13 + 3) % 20] || ' message ' || m || ' of ' || c.thread_key,
           c.started_at + (m || ' seconds')::interval
    from conversations c, generate_series(1, ${MESSAGES_PER_CONVERSATION}) as m
    where c.tenant_id = ${tenantId}`.execute(db);
  // Seeded by hand, so counted by hand (the product's writer counts as it writes).
  await countHistoryByDay(db, tenantId);
  await sql`
    insert into token_usage (tenant_id, agent_id, day, prompt_tokens, completion_tokens, runs)
    select ${tenantId}, a.id, current_date - d, 1000 * d, 300 * d, d from agents a, generate_series(0, 29) as d where a.tenant_id = ${tenantId}`.execute(
    db,
  );
  await sql`analyze`.execute(db);
  console.log(
    `seeded ${CONVERSATIONS} conversations and ${CONVERSATIONS * MESSAGES_PER_CONVERSATION} messages in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const app = await buildApp({
    db: database.app,
    throttle: createSignInThrottle(redis, {
      perEmail: 5,
      perAddress: 20,
      windowSeconds: 60,
      keyPrefix: `bench:portal:${randomUUID()}:`,
    }),
    kube: { mode: "read-only", reason: "benchmark" },
    models: { list: async () => [] },
    metrics: createMetrics(),
    log: createLogger({ name: "portal-bench", level: "warn" }),
    publicUrl: "http://127.0.0.1",
    gatewayUrl: "http://127.0.0.1:8080",
    lifetime: { idleMs: 3_600_000, absoluteMs: 3_600_000 },
  });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  const cookieOf = (response: Response) =>
    response.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
  const first = await fetch(`${address}/portal/api/session`);
  const { csrfToken } = (await first.json()) as { csrfToken: string };
  const signIn = await fetch(`${address}/portal/api/session`, {
    method: "POST",
    headers: { cookie: cookieOf(first), "content-type": "application/json", "x-csrf-token": csrfToken },
    body: JSON.stringify({ email: "owner@bench.example", password }),
  });
  if (signIn.status !== 201) throw new Error(`sign-in failed: ${signIn.status} ${await signIn.text()}`);
  const cookie = cookieOf(signIn);
  const deep = await sql<{ last_message_at: Date; id: string }>`
    select last_message_at, id from conversations where tenant_id = ${tenantId} order by last_message_at desc, id desc offset ${Math.floor(CONVERSATIONS / 2)} limit 1`.execute(
    db,
  );
  const row = deep.rows[0];
  const cursor = row ? Buffer.from(`${row.last_message_at.toISOString()}|${row.id}`).toString("base64url") : "";
  const someThread = (
    await db.selectFrom("conversations").select("id").where("tenant_id", "=", tenantId).limit(1).executeTakeFirstOrThrow()
  ).id;

  const routes = [
    "/portal/agents",
    "/portal/channels",
    "/portal/conversations",
    `/portal/conversations?cursor=${cursor}`,
    "/portal/conversations?q=refund",
    '/portal/conversations?q="invoice overdue"',
    `/portal/conversations/${someThread}`,
    "/portal/usage",
    "/portal/api/session",
    "/portal/api/agents",
    "/portal/api/conversations",
    "/portal/api/conversations?q=password+reset",
    `/portal/api/conversations/${someThread}`,
    "/portal/api/usage",
    "/portal/api/usage.csv",
  ];
  console.log(
    `\n${availableParallelism()} CPUs; load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(`${REQUESTS} requests per route, ${CONCURRENCY} at a time, after 20 warm-up requests\n`);
  console.log("route".padEnd(64), "p50 ms".padStart(8), "p99 ms".padStart(8), "max ms".padStart(8));
  for (const route of routes) {
    const get = async () => {
      const t = performance.now();
      const response = await fetch(`${address}${route}`, { headers: { cookie } });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${route}: ${response.status}`);
      return performance.now() - t;
    };
    for (let i = 0; i < 20; i++) await get();
    const times: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < REQUESTS) times.push(await get());
      }),
    );
    times.sort((x, y) => x - y);
    const at = (q: number) => (times[Math.min(times.length - 1, Math.floor(q * times.length))] as number).toFixed(1);
    console.log(route.slice(0, 64).padEnd(64), at(0.5).padStart(8), at(0.99).padStart(8), at(1).padStart(8));
  }
  console.log(
    `\nload average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  await app.close();
} finally {
  redis.disconnect();
  await database.drop();
}
