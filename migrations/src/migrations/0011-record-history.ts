import { type Kysely, sql } from "kysely";

const SIGNATURE = sql.raw(
  "konstruct_record_history(uuid, text, uuid, text, text, uuid, text, text, text, text, text, timestamptz, text, text, text, text, integer, integer, integer)",
);

/**
 * `konstruct_record_history`: one agent run's exchange — the person's message and the reply that
 * was sent — written to the conversation history in one statement, so the orchestrator pays one
 * round trip per run.
 *
 * - Idempotent: each message is keyed by its `message_key` (`ON CONFLICT DO NOTHING`), and the
 *   conversation's counters grow only by the rows this call actually inserted, so a redelivered
 *   work item or a retried run writes nothing twice, counters included. Returns that number.
 * - The conversation row is found or created per (tenant, channel type, thread key). An existing
 *   one is read `FOR KEY SHARE`, so the periodic purge cannot delete it between the lookup and
 *   the message insert; two first messages of one thread race on the unique key, and the loser
 *   reads the winner's row.
 * - Times: the person's message keeps the channel's timestamp, moved just after the conversation's
 *   last message when it is earlier (channels give whole seconds — Telegram — so a follow-up
 *   typed right after a reply would otherwise sort before it); the reply's time is the write's
 *   (just after it was published), never before its question. A thread reads in order.
 *
 * Like 0004's `konstruct_record_tokens`, it is `withTenant` in SQL: SECURITY INVOKER, so every
 * statement runs as the caller under the tables' `app_tenant_isolation` policy, with the tenant
 * set from the argument first; the function's own `set app.current_tenant` clause restores the
 * caller's value on exit. Only the app role may execute it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function konstruct_record_history(
      p_tenant uuid, p_channel_type text, p_connection uuid, p_thread_key text, p_subject text,
      p_agent uuid, p_agent_name text,
      p_inbound_key text, p_sender_id text, p_sender_name text, p_inbound_text text, p_inbound_at timestamptz,
      p_reply_key text, p_reply_sender_id text, p_reply_text text, p_model text,
      p_prompt_tokens integer, p_completion_tokens integer, p_latency_ms integer)
    returns integer
    language plpgsql security invoker
    set search_path = pg_catalog, public
    set app.current_tenant = ''
    as $$
    declare
      v_conversation uuid;
      v_connection_name text;
      v_inbound_at timestamptz := p_inbound_at;
      v_reply_at timestamptz;
      v_inserted integer;
      v_last timestamptz;
    begin
      perform set_config('app.current_tenant', p_tenant::text, true);
      for attempt in 1..3 loop
        select c.id, greatest(p_inbound_at, c.last_message_at + interval '1 microsecond')
        into v_conversation, v_inbound_at
        from public.conversations c
        where c.tenant_id = p_tenant and c.channel_type = p_channel_type and c.thread_key = p_thread_key
        for key share;
        exit when found;
        v_inbound_at := p_inbound_at;
        select cc.name into v_connection_name from public.channel_connections cc where cc.id = p_connection;
        insert into public.conversations (tenant_id, channel_type, connection_name, thread_key, agent_id, subject,
                                          started_at, last_message_at, message_count)
        values (p_tenant, p_channel_type, coalesce(v_connection_name, ''), p_thread_key, p_agent, left(p_subject, 200),
                p_inbound_at, p_inbound_at, 0)
        on conflict (tenant_id, channel_type, thread_key) do nothing
        returning id into v_conversation;
        exit when v_conversation is not null;
      end loop;
      if v_conversation is null then
        raise exception 'conversation % of tenant % could not be created or found', p_thread_key, p_tenant;
      end if;
      v_reply_at := greatest(clock_timestamp(), v_inbound_at + interval '1 millisecond');

      with inserted as (
        insert into public.conversation_messages (tenant_id, conversation_id, message_key, direction, sender_id,
          sender_name, agent_id, agent_name, model, prompt_tokens, completion_tokens, latency_ms, text, created_at)
        values
          (p_tenant, v_conversation, p_inbound_key, 'inbound', p_sender_id, p_sender_name, p_agent, p_agent_name,
           null, null, null, null, p_inbound_text, v_inbound_at),
          (p_tenant, v_conversation, p_reply_key, 'reply', p_reply_sender_id, p_agent_name, p_agent, p_agent_name,
           p_model, p_prompt_tokens, p_completion_tokens, p_latency_ms, p_reply_text, v_reply_at)
        on conflict (tenant_id, message_key) do nothing
        returning created_at
      )
      select count(*)::integer, max(created_at) into v_inserted, v_last from inserted;

      if v_inserted > 0 then
        update public.conversations
        set message_count = message_count + v_inserted,
            last_message_at = greatest(last_message_at, v_last),
            agent_id = p_agent
        where id = v_conversation;
      end if;
      return v_inserted;
    end $$`.execute(db);
  await sql`alter function ${SIGNATURE} owner to konstruct_owner`.execute(db);
  await sql`revoke all on function ${SIGNATURE} from public`.execute(db);
  await sql`grant execute on function ${SIGNATURE} to konstruct_app`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists ${SIGNATURE}`.execute(db);
}
