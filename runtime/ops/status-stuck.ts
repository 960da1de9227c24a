/**
 * Stuck events for `fnrun status`: events a function failed on and is waiting to retry. Each one
 * blocks its partition for that function (head-of-line), so the oldest ones name the keys to look
 * at. Only these few entries are read from the streams, by id.
 */
import type { Redis } from '../redis/redis.ts';
import type { FailureRecord } from '../dead-letters/dead-letter-record.ts';
import type { Keys } from '../redis/keys.ts';
import type { StuckEvent } from './status-report.ts';
import { compareStreamIds, streamIdTime } from '../redis/stream-id.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';

/** One field of an `attempts` hash: the entry id and its failure record (JSON, as the settler writes it). */
export interface FailureRow {
  fn: string;
  partition: number;
  id: string;
  record: string;
}

/**
 * The oldest `limit` failure rows of each function, with the key and type of their events and,
 * when `groupOf(fn)` is known, their delivery state. `time` is Redis' clock, for ages.
 */
export async function collectStuck(
  redis: Redis,
  keys: Keys,
  time: number,
  rows: readonly FailureRow[],
  groupOf: (fn: string) => string | null,
  limit: number,
): Promise<Map<string, StuckEvent[]>> {
  const byFn = new Map<string, FailureRow[]>();
  for (const row of rows) byFn.set(row.fn, [...(byFn.get(row.fn) ?? []), row]);
  // Entry ids of different partitions compare by the time Redis appended them: oldest first.
  const picked = [...byFn.values()].flatMap((list) => list.sort((a, b) => compareStreamIds(a.id, b.id)).slice(0, limit));
  const out = new Map<string, StuckEvent[]>();
  if (picked.length === 0) return out;

  const round = crossSlotPipeline(redis);
  for (const row of picked) {
    const events = keys.partition(row.partition).events;
    round.xrange(events, row.id, row.id);
    const group = groupOf(row.fn);
    // Without a known group there is no pending state to ask for; PING keeps the replies aligned.
    if (group === null) round.ping();
    else round.xpending(events, group, row.id, row.id, 1);
  }
  const replies = (await round.exec()) ?? [];
  picked.forEach((row, i) => {
    const [entryError, entries] = replies[2 * i] ?? [null, []];
    const [pendingError, pending] = replies[2 * i + 1] ?? [null, []];
    if (entryError) throw entryError;
    const fields = (entries as [string, string[]][])[0]?.[1] ?? [];
    // NOGROUP: the group is deployed but not created on this partition; not pending, then.
    const delivery = !pendingError && Array.isArray(pending) ? (pending as [string, string, number, number][])[0] : undefined;
    const record = parseRecord(row.record);
    const event: StuckEvent = {
      partition: row.partition,
      id: row.id,
      key: field(fields, 'key'),
      type: field(fields, 'type'),
      ageMs: Math.max(0, time - streamIdTime(row.id)),
      attempts: record.attempts,
      firstFailureAt: record.firstFailureAt,
      lastFailureAt: record.lastFailureAt,
      idleMs: delivery === undefined ? null : Number(delivery[2]),
      deliveries: delivery === undefined ? null : Number(delivery[3]),
    };
    out.set(row.fn, [...(out.get(row.fn) ?? []), event]);
  });
  return out;
}

function field(fields: readonly string[], name: string): string | null {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return null;
}

/** A record that does not parse (written by another tool) still counts as stuck, with zeros. */
function parseRecord(text: string): FailureRecord {
  try {
    const r = JSON.parse(text) as Partial<FailureRecord>;
    return { attempts: Number(r.attempts ?? 0), firstFailureAt: Number(r.firstFailureAt ?? 0), lastFailureAt: Number(r.lastFailureAt ?? 0) };
  } catch {
    return { attempts: 0, firstFailureAt: 0, lastFailureAt: 0 };
  }
}
