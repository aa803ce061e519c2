import type { ConsumerInfo, JetStreamManager, StreamConfig, StreamInfo } from "@nats-io/jetstream";

/**
 * Replacing a stream whose retention policy must change. NATS cannot change a stream's retention
 * in place (servers before 2.10 not at all, none to or from a work queue), so the stream is
 * deleted and created again — which deletes whatever it holds. This is done only when nothing
 * in it is left to process, and in an order that lets no publish land in between:
 *
 *   1. drained? (every consumer has nothing pending or unacknowledged, and every subject stored
 *      has a consumer that reads it) — otherwise keep the stream;
 *   2. move the stream's subjects to `konstruct.retired.<stream>`: from here on a publish to the
 *      pipeline's subjects finds no stream and fails (the gateway answers 503; services retry);
 *   3. drained still? — otherwise put the subjects back and keep the stream;
 *   4. delete it and create the new one.
 *
 * A run interrupted between 2 and 4 leaves the subjects moved; the next run finds the same
 * retention mismatch and carries on from step 1. Consumers disappear with the stream; each
 * service creates its own again when its pulls report the consumer gone (./consume.ts).
 */

/** What happened: replaced, or kept with the reason. */
export type Replacement = { stream: string; action: "replaced" } | { stream: string; action: "kept"; reason: string };

/** Replaces `current` by a stream of `config` if it is drained; keeps it and says why otherwise. */
export async function replaceWhenDrained(
  jsm: JetStreamManager,
  current: StreamInfo,
  config: Partial<StreamConfig> & { name: string },
): Promise<Replacement> {
  const name = config.name;
  const kept = (held: string): Replacement => ({
    stream: name,
    action: "kept",
    reason:
      `${name} has retention "${current.config.retention}", which NATS cannot change to "${config.retention}" in place, ` +
      `and ${held}; it stays as it is (unbounded) until it is drained. Let the services process it and declare ` +
      `the streams again (the next npm start, or the chart's JetStream Job), or, on a development server whose ` +
      `messages are not needed, delete its store (npm run servers -- stop, remove .data/nats/jetstream, start again).`,
  });
  const before = await pendingWork(jsm, name);
  if (before) return kept(before);
  const original = current.config.subjects ?? [];
  await jsm.streams.update(name, { subjects: [`konstruct.retired.${name}`] });
  const after = await pendingWork(jsm, name);
  if (after) {
    await jsm.streams.update(name, { subjects: isRetired(original) ? (config.subjects ?? []) : original });
    return kept(after);
  }
  await jsm.streams.delete(name);
  await jsm.streams.add(config);
  return { stream: name, action: "replaced" };
}

function isRetired(subjects: readonly string[]): boolean {
  return subjects.length > 0 && subjects.every((s) => s.startsWith("konstruct.retired."));
}

/** What the stream still holds for its consumers, in words, or null when it is drained. */
async function pendingWork(jsm: JetStreamManager, stream: string): Promise<string | null> {
  const info = await jsm.streams.info(stream, { subjects_filter: ">" });
  if (info.state.messages === 0) return null;
  const consumers: ConsumerInfo[] = [];
  for await (const consumer of jsm.consumers.list(stream)) consumers.push(consumer);
  for (const c of consumers) {
    const held = c.num_pending + c.num_ack_pending;
    if (held > 0) return `its consumer ${c.name} has ${held} messages to process`;
  }
  for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
    if (!consumers.some((c) => filtersOf(c).some((filter) => subjectMatches(filter, subject)))) {
      return `it holds ${count} messages on ${subject} that no consumer reads`;
    }
  }
  return null;
}

function filtersOf(consumer: ConsumerInfo): string[] {
  const config = consumer.config as { filter_subject?: string; filter_subjects?: string[] };
  const filters = [...(config.filter_subjects ?? []), ...(config.filter_subject ? [config.filter_subject] : [])];
  return filters.length > 0 ? filters : [">"];
}

/** NATS subject matching: `*` is one token, `>` the rest (one token or more). */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length || (f[i] !== "*" && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}
