import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { compareStreamIds } from "./conversation.ts";

/** One stream entry: its id and raw fields. */
export interface HubEntry {
  id: string;
  fields: string[];
}

/** A reader of one stream, from just after `afterId`. */
export interface HubSubscription {
  unsubscribe(): void;
}

/** Fans Redis stream entries out to many readers over one blocking connection. */
export interface StreamHub {
  /** Delivers every entry of `key` after `afterId` (`0-0`: the whole stream), in order, then new ones as they come. */
  subscribe(key: string, afterId: string, onEntries: (entries: HubEntry[]) => void, onEnd?: () => void): HubSubscription;
  /** Readers right now. */
  readonly size: number;
  /** Stops reading and ends every reader (`onEnd`), so their HTTP responses finish. */
  close(): Promise<void>;
}

interface Reader {
  lastId: string;
  onEntries: (entries: HubEntry[]) => void;
  onEnd: (() => void) | undefined;
}

/** Options for {@link createStreamHub}. */
export interface StreamHubOptions {
  /** A connection used only for the blocking `XREAD`; the hub owns and closes it. */
  blocking: Redis;
  /** A connection for `CLIENT UNBLOCK` when a reader joins (any shared client). */
  control: Redis;
  log: Logger;
  /** Longest block before the loop re-reads its readers anyway. */
  blockMs?: number;
  /** Entries read per stream per round. */
  count?: number;
}

/**
 * One `XREAD BLOCK` over every open conversation of this process, instead of one Redis
 * connection per browser: connection count stays at two however many visitors are watching.
 * Each stream is read from the oldest position any of its readers still needs; each reader
 * drops what it already had, so a reconnecting reader (its `Last-Event-ID` behind the others)
 * replays exactly what it missed. A reader joining wakes the loop with `CLIENT UNBLOCK`.
 * Redis Streams rather than pub/sub because a reply must survive the moment no tab is
 * connected: the stream is both the history and the live feed, on every replica.
 */
export function createStreamHub(options: StreamHubOptions): StreamHub {
  const { blocking, control, log } = options;
  const blockMs = options.blockMs ?? 5_000;
  const count = options.count ?? 100;
  const streams = new Map<string, Set<Reader>>();
  let readers = 0;
  let closed = false;
  let blockingId: number | null = null;
  let blocked = false;
  let round = 0;
  let wakeIdle: (() => void) | null = null;

  blocking.on("ready", () => {
    blockingId = null;
  });

  const wake = () => {
    if (wakeIdle) {
      wakeIdle();
      wakeIdle = null;
    } else if (blocked) {
      void unblock(round, 0);
    }
  };

  // The only way to cut a blocking read short without losing the connection. The XREAD may not
  // have reached Redis yet (UNBLOCK answers 0): try again briefly while that same read is pending.
  const unblock = async (ofRound: number, attempt: number): Promise<void> => {
    if (!blocked || round !== ofRound || blockingId === null || attempt > 20) return;
    try {
      const done = (await control.client("UNBLOCK", blockingId)) as number;
      if (done === 1) return;
    } catch (error) {
      log.debug({ err: error }, "CLIENT UNBLOCK failed");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
    return unblock(ofRound, attempt + 1);
  };

  // A stream is read from the oldest position any of its readers still needs.
  const cursorOf = (set: Set<Reader>): string => {
    let min: string | null = null;
    for (const reader of set) if (min === null || compareStreamIds(reader.lastId, min) < 0) min = reader.lastId;
    return min ?? "0-0";
  };

  const loop = async () => {
    while (!closed) {
      if (streams.size === 0) {
        await new Promise<void>((resolve) => {
          wakeIdle = resolve;
        });
        continue;
      }
      const keys = [...streams.keys()];
      const ids = keys.map((key) => cursorOf(streams.get(key) ?? new Set()));
      const readFrom = new Map(keys.map((key, i) => [key, ids[i] as string]));
      round++;
      let result: [string, [string, string[]][]][] | null;
      try {
        if (blockingId === null) blockingId = (await blocking.client("ID")) as number;
        blocked = true;
        result = (await blocking.xread("COUNT", count, "BLOCK", blockMs, "STREAMS", ...keys, ...ids)) as typeof result;
      } catch (error) {
        if (closed) return;
        log.warn({ err: error }, "reading web chat streams failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      } finally {
        blocked = false;
      }
      for (const [key, raw] of result ?? []) {
        const set = streams.get(key);
        const from = readFrom.get(key) ?? "0-0";
        if (!set || raw.length === 0) continue;
        const entries = raw.map(([id, fields]) => ({ id, fields }));
        for (const reader of set) {
          // A reader that joined during this read, behind where it started, would get a gap:
          // it waits for the next round, which starts from its own position.
          if (compareStreamIds(reader.lastId, from) < 0) continue;
          const fresh = entries.filter((e) => compareStreamIds(e.id, reader.lastId) > 0);
          if (fresh.length === 0) continue;
          reader.lastId = (fresh[fresh.length - 1] as HubEntry).id;
          try {
            reader.onEntries(fresh);
          } catch (error) {
            log.warn({ err: error }, "a web chat reader failed");
          }
        }
      }
    }
  };
  const running = loop();

  return {
    subscribe(key, afterId, onEntries, onEnd) {
      const reader: Reader = { lastId: afterId, onEntries, onEnd };
      let set = streams.get(key);
      if (!set) {
        set = new Set();
        streams.set(key, set);
      }
      set.add(reader);
      readers++;
      wake();
      return {
        unsubscribe() {
          const current = streams.get(key);
          if (!current?.delete(reader)) return;
          readers--;
          if (current.size === 0) streams.delete(key);
        },
      };
    },
    get size() {
      return readers;
    },
    async close() {
      closed = true;
      const ending = [...streams.values()].flatMap((set) => [...set]);
      streams.clear();
      readers = 0;
      for (const reader of ending) reader.onEnd?.();
      wake();
      blocking.disconnect();
      await running.catch(() => undefined);
    },
  };
}
