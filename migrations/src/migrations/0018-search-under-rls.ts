import { type Kysely, sql } from "kysely";

/**
 * Lets the portal's full-text search use `conversation_messages_search` (the GIN index) under
 * row-level security.
 *
 * PostgreSQL evaluates a table's RLS policy before any condition of the query that is not
 * LEAKPROOF, so that a function cannot see, or leak through an error, a row the policy hides; a
 * condition evaluated after the policy cannot be an index condition. `tsvector @@ tsquery`
 * (`ts_match_vq`) is not marked LEAKPROOF, so for the app role every search read the tenant's
 * whole history (0.25-0.5 s at 200,000 messages). The function only compares a document with a
 * query and returns a boolean; its only errors (out of memory, a query nested too deep) depend on
 * the query, which is the caller's own, never on the row, so marking it LEAKPROOF reveals nothing.
 *
 * Only a superuser may mark a function LEAKPROOF. Where the migrations run without one (a managed
 * PostgreSQL), this step is skipped with a notice: search stays correct, only slower for words
 * that are rare in recent messages (the portal reads the newest messages first,
 * `SEARCH_RECENT_WINDOW`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    do $$
    begin
      alter function pg_catalog.ts_match_vq(tsvector, tsquery) leakproof;
    exception when insufficient_privilege then
      raise notice 'not a superuser: ts_match_vq stays non-leakproof, and search under RLS cannot use its GIN index';
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    do $$
    begin
      alter function pg_catalog.ts_match_vq(tsvector, tsquery) not leakproof;
    exception when insufficient_privilege then null;
    end $$`.execute(db);
}
