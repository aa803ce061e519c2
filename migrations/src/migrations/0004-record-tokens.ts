import { type Kysely, sql } from "kysely";

/**
 * `konstruct_record_tokens`: one run's tokens added to its agent's daily row in a single
 * statement, so the orchestrator pays one round trip per run instead of four (begin,
 * set_config, insert, commit through `withTenant`).
 *
 * It is the SQL twin of `withTenant`, not a way around it: SECURITY INVOKER, so the insert runs
 * as the caller under the same `app_tenant_isolation` policy, with the tenant set from the
 * argument first. The function's own `set app.current_tenant` clause makes PostgreSQL restore the
 * caller's value on exit, so the tenant set inside can never leak into a surrounding transaction;
 * called on its own, the statement's implicit transaction ends with the call anyway. Only the
 * app role may execute it: tenant login roles are bound to their own tenant by `session_user`,
 * and setting the GUC must stay meaningless for them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function konstruct_record_tokens(p_tenant uuid, p_agent uuid, p_day date, p_prompt bigint, p_completion bigint)
    returns void
    language plpgsql security invoker
    set search_path = pg_catalog, public
    set app.current_tenant = ''
    as $$
    begin
      perform set_config('app.current_tenant', p_tenant::text, true);
      insert into public.token_usage as u (tenant_id, agent_id, day, prompt_tokens, completion_tokens, runs)
      values (p_tenant, p_agent, p_day, p_prompt, p_completion, 1)
      on conflict (tenant_id, agent_id, day) do update
        set prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = u.completion_tokens + excluded.completion_tokens,
            runs = u.runs + 1;
    end $$`.execute(db);
  await sql`alter function konstruct_record_tokens(uuid, uuid, date, bigint, bigint) owner to konstruct_owner`.execute(db);
  await sql`revoke all on function konstruct_record_tokens(uuid, uuid, date, bigint, bigint) from public`.execute(db);
  await sql`grant execute on function konstruct_record_tokens(uuid, uuid, date, bigint, bigint) to konstruct_app`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists konstruct_record_tokens(uuid, uuid, date, bigint, bigint)`.execute(db);
}
