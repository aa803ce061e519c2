import { type Kysely, sql } from "kysely";
import { up as recordHistory0011 } from "./0011-record-history.ts";

/**
 * A cheaper history write (issue target: < 1 ms of CPU per message), measured with
 * `test/pipeline/history-bench.ts` and by ablation on a copy of the schema:
 *
 * - `konstruct_record_history` no longer reads the conversation `FOR KEY SHARE`. That lock made
 *   every call, even a redelivery's repeat that inserts nothing, take a transaction id, write a
 *   WAL record and flush a commit: about 0.35 ms of PostgreSQL CPU of a 0.9 ms repeat. The message
 *   insert's foreign key check takes the same key-share lock on the conversation, but only for a
 *   row really inserted, so a repeat is now read-only. The race the lock closed (the retention
 *   purge deleting an empty, expired conversation between the lookup and the insert) now ends in
 *   a foreign key violation instead of an orphan: the run fails, and its redelivery creates the
 *   conversation afresh. Exactly once still holds, by the message keys.
 * - `conversation_messages` loses its foreign key to `tenants`: each inserted row checked it with
 *   a `FOR KEY SHARE` of the tenant's one row, shared by every run of the tenant. A deleted
 *   tenant's messages still go, through `conversations` (cascade) and then the messages' key to
 *   their conversation (cascade); RLS already keeps a message in its conversation's tenant.
 * - `conversations_by_connection` goes: the conversation update cannot be HOT (`last_message_at`
 *   orders the list, so it is indexed), so every index of `conversations` takes a new entry on
 *   every run. The channel filter of the list reads `conversations_recent` instead: a tenant has
 *   a handful of connections.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
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
  await sql`alter table conversation_messages drop constraint if exists conversation_messages_tenant_id_fkey`.execute(db);
  await sql`drop index if exists conversations_by_connection`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists conversations_by_connection on conversations (tenant_id, connection_name, last_message_at desc)`.execute(
    db,
  );
  await sql`
    alter table conversation_messages add constraint conversation_messages_tenant_id_fkey
    foreign key (tenant_id) references tenants (id) on delete cascade`.execute(db);
  // 0011's body, with its lock, comes back by running 0011's `up` again.
  await sql`drop function if exists konstruct_record_history(uuid, text, uuid, text, text, uuid, text, text, text, text, text, timestamptz, text, text, text, text, integer, integer, integer)`.execute(
    db,
  );
  await recordHistory0011(db);
}
