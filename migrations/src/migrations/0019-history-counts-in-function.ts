import { type Kysely, sql } from "kysely";
import { createCountTrigger, NO_AGENT } from "./0014-daily-message-counts.ts";
import { up as cheaperHistoryWrite0016 } from "./0016-cheaper-history-write.ts";

/**
 * The per-day message counts (0014) are kept by `konstruct_record_history` itself, in the
 * statement that inserts the messages, instead of by a statement-level trigger on
 * `conversation_messages`.
 *
 * The trigger fired for every insert statement, built its transition table and ran a grouped
 * upsert through PL/pgSQL: about 160 µs of a history write's ~640 µs, measured with the trigger
 * disabled (3,000 writes in one transaction). Counting from the insert's own `returning` rows, in
 * a data-modifying CTE of the same statement, costs what the upsert costs and nothing around it.
 * Only rows really inserted are returned, so a redelivery's repeat (`on conflict do nothing`)
 * still counts nothing, and each row counts on its own UTC day, as the trigger counted them.
 *
 * The function is the only writer of history in the product (the orchestrator's runs). Rows
 * written by other means (a fixture, a hand-made import) are no longer counted on their own:
 * whoever writes them writes their counts too.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists conversation_messages_count on conversation_messages`.execute(db);
  await sql`drop function if exists konstruct_count_messages()`.execute(db);
  await sql
    .raw(`
    create or replace function konstruct_record_history(
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
        where c.tenant_id = p_tenant and c.channel_type = p_channel_type and c.thread_key = p_thread_key;
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
      ), counted as (
        insert into public.conversation_daily_counts as d (tenant_id, day, agent_id, agent_name, messages)
        select p_tenant, (i.created_at at time zone 'UTC')::date, coalesce(p_agent, '${NO_AGENT}'::uuid), p_agent_name, count(*)
        from inserted i
        group by 2
        on conflict (tenant_id, day, agent_id) do update
          set messages = d.messages + excluded.messages,
              agent_name = coalesce(excluded.agent_name, d.agent_name)
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
    end $$`)
    .execute(db);

  await sql
    .raw(`
    create function konstruct_record_histories(p_tenant uuid, p_exchanges jsonb)
    returns table (exchange_index integer, messages_inserted integer)
    language plpgsql security invoker
    set search_path = pg_catalog, public
    set app.current_tenant = ''
    as $$
    declare
      v_expected integer;
      v_written integer;
    begin
      perform set_config('app.current_tenant', p_tenant::text, true);
      select count(*), count(distinct (x.channel_type, x.thread_key)) into v_expected, v_written
      from jsonb_to_recordset(p_exchanges) as x(channel_type text, thread_key text);
      if v_written <> v_expected then
        raise exception 'konstruct_record_histories takes one exchange per thread at a time';
      end if;

      -- The threads' conversations that do not exist yet. A statement of its own, so the next one
      -- sees them, and those another writer committed in between.
      insert into public.conversations (tenant_id, channel_type, connection_name, thread_key, agent_id, subject,
                                        started_at, last_message_at, message_count)
      select p_tenant, x.channel_type, coalesce(cc.name, ''), x.thread_key, x.agent, left(x.subject, 200),
             x.inbound_at, x.inbound_at, 0
      from jsonb_to_recordset(p_exchanges) as x(channel_type text, connection uuid, thread_key text, subject text,
                                                agent uuid, inbound_at timestamptz)
      left join public.channel_connections cc on cc.id = x.connection
      left join lateral (
        -- a lookup by the unique key per exchange (the limit keeps the planner from joining the
        -- tenant's every conversation, as it would for the 100 rows it guesses a JSON array holds)
        select 1 as found from public.conversations c
        where c.tenant_id = p_tenant and c.channel_type = x.channel_type and c.thread_key = x.thread_key
        limit 1
      ) e on true
      where e.found is null
      on conflict (tenant_id, channel_type, thread_key) do nothing;

      return query
      with x as (
        select * from jsonb_to_recordset(p_exchanges) as x(n integer, channel_type text, thread_key text, agent uuid,
          agent_name text, inbound_key text, sender_id text, sender_name text, inbound_text text, inbound_at timestamptz,
          reply_key text, reply_sender_id text, reply_text text, model text, prompt_tokens integer,
          completion_tokens integer, latency_ms integer)
      ), timed as (
        select x.*, c.id as conversation_id, t.inbound_at as in_at,
               greatest(clock_timestamp(), t.inbound_at + interval '1 millisecond') as reply_at
        from x
        cross join lateral (
          select c.id, c.message_count, c.last_message_at from public.conversations c
          where c.tenant_id = p_tenant and c.channel_type = x.channel_type and c.thread_key = x.thread_key
          limit 1
        ) c
        cross join lateral (
          select case when c.message_count = 0 then x.inbound_at
                      else greatest(x.inbound_at, c.last_message_at + interval '1 microsecond') end as inbound_at
        ) t
      ), inserted as (
        insert into public.conversation_messages (tenant_id, conversation_id, message_key, direction, sender_id,
          sender_name, agent_id, agent_name, model, prompt_tokens, completion_tokens, latency_ms, text, created_at)
        select p_tenant, t.conversation_id, m.message_key, m.direction, m.sender_id, m.sender_name, t.agent, t.agent_name,
               m.model, m.prompt_tokens, m.completion_tokens, m.latency_ms, m.text, m.created_at
        from timed t
        cross join lateral (values
          (t.inbound_key, 'inbound', t.sender_id, t.sender_name, null::text, null::integer, null::integer, null::integer,
           t.inbound_text, t.in_at),
          (t.reply_key, 'reply', t.reply_sender_id, t.agent_name, t.model, t.prompt_tokens, t.completion_tokens,
           t.latency_ms, t.reply_text, t.reply_at)
        ) as m(message_key, direction, sender_id, sender_name, model, prompt_tokens, completion_tokens, latency_ms, text,
               created_at)
        on conflict (tenant_id, message_key) do nothing
        returning conversation_id, agent_id, agent_name, created_at
      ), counted as (
        insert into public.conversation_daily_counts as d (tenant_id, day, agent_id, agent_name, messages)
        select p_tenant, (i.created_at at time zone 'UTC')::date, coalesce(i.agent_id, '${NO_AGENT}'::uuid),
               max(i.agent_name), count(*)
        from inserted i
        group by 2, 3
        on conflict (tenant_id, day, agent_id) do update
          set messages = d.messages + excluded.messages,
              agent_name = coalesce(excluded.agent_name, d.agent_name)
      ), per_conversation as (
        select i.conversation_id, count(*)::integer as k, max(i.created_at) as last
        from inserted i
        group by 1
      ), updated as (
        update public.conversations c
        set message_count = c.message_count + p.k,
            last_message_at = greatest(c.last_message_at, p.last),
            agent_id = t.agent
        from per_conversation p
        join timed t on t.conversation_id = p.conversation_id
        where c.id = p.conversation_id
      )
      select t.n, coalesce(p.k, 0)
      from timed t
      left join per_conversation p on p.conversation_id = t.conversation_id;

      get diagnostics v_written = row_count;
      if v_written <> v_expected then
        -- A conversation went between the two statements (the retention purge deletes empty ones):
        -- the caller writes these exchanges again, one by one, and konstruct_record_history makes it afresh.
        raise exception 'a conversation of tenant % vanished while its history was written', p_tenant;
      end if;
    end $$`)
    .execute(db);
  await sql`alter function konstruct_record_histories(uuid, jsonb) owner to konstruct_owner`.execute(db);
  await sql`revoke all on function konstruct_record_histories(uuid, jsonb) from public`.execute(db);
  await sql`grant execute on function konstruct_record_histories(uuid, jsonb) to konstruct_app`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists konstruct_record_histories(uuid, jsonb)`.execute(db);
  await createCountTrigger(db);
  await cheaperHistoryWrite0016(db);
}
