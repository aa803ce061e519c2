import { type Kysely, sql } from "kysely";

/**
 * `konstruct_record_tokens` with a run count: one batch of an agent's runs added to its daily
 * row, so the orchestrator writes a batch of runs (its token ledger) in one statement instead of
 * one per run. Same shape and guarantees as 0004's function (SECURITY INVOKER under the
 * `app_tenant_isolation` policy, the tenant set from the argument and restored on exit,
 * executable by the app role only).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function konstruct_record_tokens(p_tenant uuid, p_agent uuid, p_day date, p_prompt bigint, p_completion bigint, p_runs integer)
    returns void
    language plpgsql security invoker
    set search_path = pg_catalog, public
    set app.current_tenant = ''
    as $$
    begin
      perform set_config('app.current_tenant', p_tenant::text, true);
      insert into public.token_usage as u (tenant_id, agent_id, day, prompt_tokens, completion_tokens, runs)
      values (p_tenant, p_agent, p_day, p_prompt, p_completion, p_runs)
      on conflict (tenant_id, agent_id, day) do update
        set prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = u.completion_tokens + excluded.completion_tokens,
            runs = u.runs + excluded.runs;
    end $$`.execute(db);
  await sql`alter function konstruct_record_tokens(uuid, uuid, date, bigint, bigint, integer) owner to konstruct_owner`.execute(
    db,
  );
  await sql`revoke all on function konstruct_record_tokens(uuid, uuid, date, bigint, bigint, integer) from public`.execute(db);
  await sql`grant execute on function konstruct_record_tokens(uuid, uuid, date, bigint, bigint, integer) to konstruct_app`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists konstruct_record_tokens(uuid, uuid, date, bigint, bigint, integer)`.execute(db);
}
